"""Atomic pushes to a versioned folder, and finding the model in production from it."""

import os

import pytest

from components import pusher
from components.core.serving import latest_production_model, production_versions
from components.pusher import STAGING_PREFIX, push_model


def fake_saved_model(folder, marker: str) -> str:
    os.makedirs(os.path.join(folder, "variables"))
    with open(os.path.join(folder, "variables", "variables.index"), "w") as f:
        f.write(marker)
    with open(os.path.join(folder, "saved_model.pb"), "w") as f:
        f.write(marker)
    return str(folder)


def test_versions_increase_and_the_newest_is_in_production(tmp_path):
    push_dir = str(tmp_path / "serving")
    assert latest_production_model(push_dir) is None
    v1, _ = push_model(fake_saved_model(tmp_path / "m1", "one"), push_dir)
    v2, final = push_model(fake_saved_model(tmp_path / "m2", "two"), push_dir)
    assert int(v2) > int(v1)
    assert production_versions(push_dir) == [int(v1), int(v2)]
    assert latest_production_model(push_dir) == final
    with open(os.path.join(final, "saved_model.pb")) as f:
        assert f.read() == "two"


def test_a_crash_mid_push_leaves_no_version_a_server_would_load(tmp_path, monkeypatch):
    push_dir = str(tmp_path / "serving")
    v1, first = push_model(fake_saved_model(tmp_path / "m1", "one"), push_dir)

    def crash(*args, **kwargs):
        raise OSError("disk full while copying saved_model.pb")

    monkeypatch.setattr(pusher.io_utils, "copy_file", crash)
    with pytest.raises(OSError, match="disk full"):
        push_model(fake_saved_model(tmp_path / "m2", "two"), push_dir)
    staging = [e for e in os.listdir(push_dir) if e != v1]
    assert len(staging) == 1 and staging[0].startswith(STAGING_PREFIX)
    assert not os.path.exists(os.path.join(push_dir, staging[0], "saved_model.pb"))
    assert latest_production_model(push_dir) == first


def test_incomplete_numeric_folders_are_not_production(tmp_path):
    push_dir = tmp_path / "serving"
    (push_dir / "123").mkdir(parents=True)
    assert production_versions(str(push_dir)) == []
