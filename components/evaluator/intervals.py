"""95% confidence intervals of the blessing's metrics, from the counts of the eval split.

- Accuracy: the Wilson score interval of `hits` successes in `n` examples. Unlike the normal
  approximation (p +- z * sqrt(p (1 - p) / n)) it stays inside [0, 1] and does not collapse to a
  point at 0 or n hits, which matters most on the small splits the interval is there to catch:
  7 of 10 right is 0.70 with the interval 0.397-0.892.
- Balanced accuracy, the mean of the per-class recalls: each recall (hits_k of n_k) gets its own
  Wilson interval (l_k, u_k), combined by the MOVER method for a linear combination of
  independent proportions (Zou & Donner 2008; Newcombe's method for a difference is its
  two-term case): for the mean of K recalls r_k,

      low  = mean - sqrt(sum_k (r_k - l_k)^2) / K
      high = mean + sqrt(sum_k (u_k - r_k)^2) / K

  With one class it is that class's Wilson interval. A class with few examples widens the
  interval as it should: its recall counts 1 / K however few examples it has.

TFMA's own confidence intervals (Poisson bootstrap or jackknife over the Beam pipeline) are not
used: its validator judges a threshold against the metric's point value, not an end of its
interval, and a jackknife over ten examples says little.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist

from components.core.evaluation import CONFIDENCE

Z = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)  # 1.95996... for 95%


def wilson(hits: float, n: float, z: float = Z) -> tuple[float, float]:
    """The Wilson score interval of a proportion `hits` / `n` ((0, 1) when `n` is 0: no
    evidence either way)."""
    if n <= 0:
        return 0.0, 1.0
    p = hits / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_of_proportions(counts: Iterable[tuple[float, float]], z: float = Z) -> tuple[float, float]:
    """The MOVER-Wilson interval of the mean of independent proportions, given as (hits, n)
    pairs with n > 0 (see the module docstring); (0, 1) when there are none."""
    pairs = [(hits, n) for hits, n in counts if n > 0]
    if not pairs:
        return 0.0, 1.0
    below = above = 0.0
    mean = 0.0
    for hits, n in pairs:
        p = hits / n
        low, high = wilson(hits, n, z)
        mean += p
        below += (p - low) ** 2
        above += (high - p) ** 2
    k = len(pairs)
    mean /= k
    return max(0.0, mean - math.sqrt(below) / k), min(1.0, mean + math.sqrt(above) / k)
