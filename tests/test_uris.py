"""Where a location is (components/core/uris.py): `is_remote` means "not on this machine" (gs://,
s3://; a file:// URI is on this machine), `has_scheme` means "written as a URI" (file:// too); and
the callers that depend on the difference."""

import pytest

from components.core.checkpoint import resolve_checkpoint
from components.core.config import Config
from components.core.uris import has_scheme, is_remote
from components.text_example_gen import input_split_config
from pipeline.cli import main as bertpipe
from pipeline.kubeflow.compile import portable_path


@pytest.mark.parametrize(
    "location, remote, scheme",
    [
        ("gs://bucket/reviews", True, True),
        ("s3://bucket/reviews/{SPAN}", True, True),
        ("file:///data/reviews", False, True),
        ("/data/reviews", False, False),
        ("reviews/train.csv", False, False),
        ("", False, False),
    ],
)
def test_remote_means_another_file_system_and_a_scheme_includes_file(location, remote, scheme):
    assert is_remote(location) is remote
    assert has_scheme(location) is scheme


def test_a_file_uri_checkpoint_is_read_on_this_machine(tiny_checkpoint):
    assert resolve_checkpoint(f"file://{tiny_checkpoint}") == str(tiny_checkpoint)


def test_compile_checks_a_file_uri_here_and_writes_it_as_it_is(tmp_path, capsys):
    missing = f"file://{tmp_path}/bert"
    package = tmp_path / "p.yaml"
    assert bertpipe(["compile", "--checkpoint", missing, "--package", str(package)]) == 2
    assert f"checkpoint '{tmp_path}/bert' is not a folder" in capsys.readouterr().err
    assert not package.exists()
    assert portable_path(missing, "checkpoint") == missing  # a URI goes into the package as is
    assert portable_path("gs://bucket/bert", "checkpoint") == "gs://bucket/bert"


def test_a_file_uri_data_path_keeps_its_scheme(tmp_path):
    (tmp_path / "reviews.csv").write_text("text,label\na fine film,positive\n")
    data = Config().replace(data={"data": f"file://{tmp_path}/reviews.csv"}).data
    base, _, _ = input_split_config(data)
    assert base == f"file://{tmp_path}"  # not made absolute as a path of this folder
