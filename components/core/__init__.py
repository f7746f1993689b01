"""The shared core of the components: the typed config, names, environment and small readers.

Everything in `components/` and `pipeline/` may import from here; nothing here imports from
`pipeline/` or from a component folder (import-linter contracts in pyproject.toml).
"""

from components.core import env  # noqa: F401  (before anything imports TensorFlow)
