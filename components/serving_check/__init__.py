"""The serving check: before a push, the candidate is loaded and called as a model server would.

component.py (the pipeline step), executor.py (runs the check, writes TFX's InfraBlessing with
the model to push, its warmup requests and serving record), fresh_process.py (the checks, in a
process that imports only tensorflow and tensorflow_text), kubernetes.py (TFX's InfraValidator
with a real TF Serving on Kubernetes instead, a compile option).
"""

from components.serving_check.component import ServingCheck
from components.serving_check.kubernetes import kubernetes_infra_validator, split_image

__all__ = ["ServingCheck", "kubernetes_infra_validator", "split_image"]
