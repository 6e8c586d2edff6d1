"""Files and directories flowcept creates are private (0600 files, 0700 directories) whatever the umask."""

from __future__ import annotations

import os
import stat

import pytest

from flowcept import Flowcept, flowcept_task
from tests._util import use_settings


@pytest.fixture(autouse=True)
def open_umask():
    """umask 0: without explicit modes, new files would be 0666 and directories 0777."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@flowcept_task
def square(x: int) -> int:
    return x * x


def test_buffer_file_lmdb_directory_and_files_are_private(tmp_path, monkeypatch):
    db = tmp_path / "new" / "db"
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online",
                    "dump_buffer": {"enabled": True, "path": str(tmp_path / "out" / "buffer.jsonl")}},
        "databases": {"lmdb": {"enabled": True, "path": str(db)}}})
    (tmp_path / "out").mkdir()
    with Flowcept() as fc:
        square(3)
    assert len(Flowcept.db.task_query({"workflow_id": fc.current_workflow_id})) == 1
    assert mode(tmp_path / "out" / "buffer.jsonl") == 0o600
    assert mode(db) == 0o700
    assert mode(tmp_path / "new") == 0o700  # a missing parent created on the way
    for name in ("data.mdb", "lock.mdb"):
        assert mode(db / name) == 0o600, name


def test_offline_buffer_file_is_private(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "offline"}})
    with Flowcept():
        square(2)
    assert Flowcept.read_buffer_file()[-1]["generated"] == {"arg_0": 4}
    assert mode(tmp_path / "flowcept_buffer.jsonl") == 0o600


def test_spill_directory_and_file_are_private(tmp_path):
    from flowcept_core.spill import Spill

    spill = Spill(str(tmp_path / "spill" / "deep"), "redis-test", 1 << 20)
    assert spill.add([{"type": "task", "task_id": "t-1"}])
    assert mode(tmp_path / "spill") == 0o700
    assert mode(tmp_path / "spill" / "deep") == 0o700
    assert mode(spill.path) == 0o600


@pytest.mark.parametrize("fmt,zipped", [("json", False), ("jsonl", False), ("jsonl", True), ("csv", False)])
def test_exports_are_private(tmp_path, monkeypatch, fmt, zipped):
    if fmt == "csv":
        pytest.importorskip("pandas", reason="csv export needs pandas")
    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    with Flowcept():
        square(4)
    out = Flowcept.db.dump_to_file(output_file=str(tmp_path / f"tasks.{fmt}"), export_format=fmt, should_zip=zipped)
    assert os.path.getsize(out) > 0
    assert mode(out) == 0o600


def test_consolidated_buffer_file_is_private(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"db_flush_mode": "offline",
                                                     "dump_buffer": {"append_workflow_id_to_path": True}}})
    with Flowcept() as fc:
        square(5)
    from flowcept_core.files import consolidate_files

    target = consolidate_files("flowcept_buffer.jsonl", fc.current_workflow_id, cleanup_files=False)
    assert os.path.getsize(target) > 0
    assert mode(target) == 0o600


def test_existing_directories_keep_their_mode(tmp_path):
    from flowcept_core.private_files import make_private_dirs

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    make_private_dirs(str(shared / "mine"))
    assert mode(shared) == 0o755
    assert mode(shared / "mine") == 0o700


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "prov"])
def test_cli_exports_are_private(tmp_path, monkeypatch, fmt):
    from flowcept_core.cli import main

    use_settings(tmp_path, monkeypatch, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}}})
    with Flowcept() as fc:
        square(6)
    out = tmp_path / f"export.{fmt}"
    assert main(["export", "--workflow-id", fc.current_workflow_id, "--format", fmt, "--output", str(out)]) == 0
    assert out.stat().st_size > 0
    assert mode(out) == 0o600


def test_settings_files_written_by_the_cli_are_private(tmp_path):
    from flowcept_core.cli import main

    path = tmp_path / "conf" / "settings.yaml"
    assert main(["init-settings", str(path)]) == 0
    assert mode(path) == 0o600  # a settings file holds credentials (mq.password, URIs)
    assert mode(tmp_path / "conf") == 0o700
