"""The ``flowcept`` command: subcommands, upstream's flags, one-line usage errors with exit status 2."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from flowcept import Flowcept, flowcept_task
from flowcept_core.cli import main
from flowcept_core.registry import reset_registry
from flowcept_core.settings import load_settings, reset_settings
from flowcept_core.stores import close_stores
from tests._util import use_settings

FLOWCEPT = [sys.executable, "-m", "flowcept_core.cli"]


@flowcept_task
def square(x):
    if x == 2:
        raise RuntimeError("two is not allowed")
    return x * x


def _lines(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]


def test_flowcept_alone_prints_help_with_examples():
    proc = subprocess.run(FLOWCEPT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "usage: flowcept" in proc.stdout and "examples:" in proc.stdout and "--generate-report" in proc.stdout


@pytest.mark.parametrize(
    "command",
    [
        "init-settings",
        "check-services",
        "start-consumer",
        "stream",
        "query",
        "workflows",
        "workflow",
        "report",
        "export",
        "read-buffer",
    ],
)
def test_every_subcommand_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: flowcept {command}" in out and "examples:" in out


def test_usage_errors_are_one_line_with_status_2(tmp_path, capsys):
    cases = [
        (["query", "--filter", "{bad"], "--filter is not valid JSON"),
        (["query", "--filter", "[1]"], "--filter must be a JSON object"),
        (["read-buffer", str(tmp_path / "missing.jsonl")], "missing.jsonl' does not exist"),
        (["report", "--input", str(tmp_path / "missing.jsonl")], "does not exist"),
        (["report"], "give --input FILE"),
        (["--query"], "--query needs --filter VALUE"),
        (["--start-redis"], "redis-server"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err and "Traceback" not in err, (argv, err)


def test_init_settings_writes_a_commented_file_that_loads(tmp_path, capsys):
    path = tmp_path / "conf" / "settings.yaml"
    assert main(["init-settings", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("# Flowcept settings") and "# message queue" in text
    loaded = load_settings(str(path))
    assert loaded.get("mq.type") == "memory" and loaded.get("databases.lmdb.enabled") is True
    assert main(["init-settings", str(path)]) == 2  # an existing file is kept
    assert "--force" in capsys.readouterr().err
    assert main(["init-settings", str(path), "--dask"]) == 0  # adapters are added to the existing file
    assert yaml.safe_load(path.read_text())["adapters"]["dask"] == {"kind": "dask"}


def test_config_profile_updates_the_settings_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"project": {"debug": True}}))
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    assert main(["--config-profile", "full-offline", "-y"]) == 0
    tree = yaml.safe_load(path.read_text())
    assert tree["project"] == {"debug": True, "db_flush_mode": "offline", "dump_buffer": {"enabled": True}}
    assert tree["mq"]["enabled"] is False
    assert main(["--config-profile", "nonsense"]) == 2
    assert "full-offline" in capsys.readouterr().err


@pytest.fixture
def stored_run(tmp_path, monkeypatch):
    """One workflow of 4 square() tasks (one failed) persisted in a private LMDB store."""
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    close_stores()
    use_settings(
        tmp_path,
        monkeypatch,
        {
            "project": {"db_flush_mode": "online"},
            "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}},
        },
    )
    with Flowcept(workflow_name="squares") as fc:
        for i in range(4):
            try:
                square(i)
            except RuntimeError:
                pass
    yield fc.current_workflow_id
    close_stores()


def test_data_commands_on_the_store(stored_run, tmp_path, capsys):
    wid = stored_run
    assert main(["workflows"]) == 0
    table = _lines(capsys)
    assert table[0].split()[:5] == ["workflow_id", "name", "status", "started_at", "tasks"]
    assert wid in table[2] and "squares" in table[2] and table[2].split()[-2] == "4"
    assert main(["query", "--filter", json.dumps({"workflow_id": wid, "status": "ERROR"}), "--format", "jsonl"]) == 0
    (err,) = [json.loads(ln) for ln in _lines(capsys)]
    assert err["used"] == {"x": 2} and "two is not allowed" in err["stderr"]
    assert (
        main(
            [
                "query",
                "--filter",
                "{}",
                "--sort",
                '[["used.x", -1]]',
                "--limit",
                "2",
                "--projection",
                '["task_id", "used.x"]',
                "--format",
                "jsonl",
            ]
        )
        == 0
    )
    assert [json.loads(ln)["used"]["x"] for ln in _lines(capsys)] == [3, 2]
    assert main(["workflow", wid, "--plain"]) == 0
    card = capsys.readouterr().out
    assert "# Provenance card: squares" in card and "RuntimeError: two is not allowed" in card
    assert main(["workflow", "no-such-id"]) == 2
    assert "unknown workflow id 'no-such-id'" in capsys.readouterr().err


def test_upstream_flags_on_the_store(stored_run, tmp_path, capsys):
    wid = stored_run
    assert main(["--workflow-count", "--workflow-id", wid]) == 0
    assert json.loads(capsys.readouterr().out) == {"workflow_id": wid, "tasks": 4, "workflows": 1, "objects": 0}
    assert main(["--query", "--filter", json.dumps({"used.x": 3})]) == 0
    (doc,) = [json.loads(ln) for ln in _lines(capsys)]
    assert main(["--get-task", "--task-id", doc["task_id"]]) == 0
    assert json.loads(capsys.readouterr().out)["generated"] == doc["generated"]
    assert main(["--get-task", "--task-id", "nope"]) == 2
    assert main(["--workflow-count", "--workflow-id", "nope"]) == 2
    out = tmp_path / "card.md"
    assert main(["--generate-report", "--workflow-id", wid, "--output-path", str(out)]) == 0
    assert "Provenance card: squares" in out.read_text()


def test_export_jsonl_csv_and_prov(stored_run, tmp_path, capsys):
    wid = stored_run
    assert main(["export", "--workflow-id", wid, "--output", str(tmp_path / "t.jsonl")]) == 0
    rows = [json.loads(ln) for ln in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert sorted(r["used"]["x"] for r in rows) == [0, 1, 2, 3]
    assert main(["export", "--workflow-id", wid, "--format", "csv", "--output", str(tmp_path / "t.csv")]) == 0
    with open(tmp_path / "t.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert sorted(int(r["used.x"]) for r in table) == [0, 1, 2, 3] and "generated.arg_0" in table[0]
    assert main(["export", "--workflow-id", wid, "--format", "prov", "--output", str(tmp_path / "p.json")]) == 0
    (bundle,) = json.loads((tmp_path / "p.json").read_text())["bundle"].values()
    tasks = [k for k, v in bundle["activity"].items() if v["prov:type"]["$"] == "flowcept:Task"]
    assert len(tasks) == 4 and f"workflow:{wid}" in bundle["activity"]
    assert len(bundle["used"]) == 4 and len(bundle["wasGeneratedBy"]) == 3  # the failed task generated nothing
    assert main(["export", "--workflow-id", wid, "--format", "provn", "--output", str(tmp_path / "p.provn")]) == 0
    assert (tmp_path / "p.provn").read_text().count("activity(task:") == 4
    assert main(["export", "--workflow-id", "nope", "--output", str(tmp_path / "n.jsonl")]) == 2


def test_read_buffer_and_report_from_a_file(tmp_path, monkeypatch, capsys):
    buf = tmp_path / "buf.jsonl"
    use_settings(tmp_path, monkeypatch, {"project": {"dump_buffer": {"path": str(buf)}}})
    with Flowcept(workflow_name="offline-run"):
        for i in range(5):
            try:
                square(i)
            except RuntimeError:
                pass
    assert (
        main(
            [
                "read-buffer",
                str(buf),
                "--type",
                "task",
                "--filter",
                '{"status": "FINISHED"}',
                "--format",
                "jsonl",
                "--limit",
                "3",
            ]
        )
        == 0
    )
    got = [json.loads(ln) for ln in _lines(capsys)]
    assert [g["used"]["x"] for g in got] == [0, 1, 3]
    assert main(["read-buffer", str(buf), "--type", "workflow"]) == 0
    assert len(_lines(capsys)) == 3  # header, rule, one workflow
    out = tmp_path / "r.md"
    assert main(["--generate-report", "--input-path", str(buf), "--output-path", str(out)]) == 0
    assert "Provenance card: offline-run" in out.read_text()


def test_consumer_and_stream_refuse_the_in_process_mq(capsys):
    assert main(["start-consumer"]) == 2
    assert "in-process" in capsys.readouterr().err
    assert main(["stream"]) == 2


@pytest.fixture
def redis_settings(tmp_path, monkeypatch):
    """A private redis-server on its own port, and settings pointing at it (persisting to a private LMDB)."""
    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    from tests.services import OwnRedis

    server = OwnRedis(tmp_path / "redis", persist=False)
    why = server.start()
    if why is not None:
        pytest.skip(f"redis-server could not start: {why}")
    path = use_settings(
        tmp_path,
        monkeypatch,
        {
            "project": {"db_flush_mode": "online"},
            "mq": {"type": "redis", "host": "127.0.0.1", "port": server.port, "channel": f"cli-{os.getpid()}"},
            "db_buffer": {"insertion_buffer_time_secs": 0.1},
            "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}},
        },
    )
    yield path
    server.stop()


def _spawn(args: list[str], tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        FLOWCEPT + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=dict(os.environ)
    )


def _wait_for_line(proc: subprocess.Popen, stream: str, needle: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    pipe = getattr(proc, stream)
    while time.monotonic() < deadline:
        line = pipe.readline()
        if needle in line:
            return line
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{needle!r} not seen; exit {proc.poll()}")


def test_start_consumer_stores_and_stops_cleanly_on_sigterm(redis_settings, tmp_path):
    consumer = _spawn(["start-consumer"], tmp_path)
    try:
        _wait_for_line(consumer, "stdout", "consuming from redis")
        with Flowcept(workflow_name="remote", start_persistence=False) as fc:
            for i in (0, 1, 3):
                square(i)
        time.sleep(1.0)  # the consumer stores within insertion_buffer_time_secs; SIGTERM must flush the rest
        consumer.send_signal(signal.SIGTERM)
        out, err = consumer.communicate(timeout=60)
    finally:
        if consumer.poll() is None:
            consumer.kill()
    assert consumer.returncode == 0, err
    assert "stopped;" in out
    close_stores()
    reset_settings()
    reset_registry()
    tasks = Flowcept.db.query({"workflow_id": fc.current_workflow_id})
    assert sorted(t["used"]["x"] for t in tasks) == [0, 1, 3]
    close_stores()


def test_stream_prints_filtered_live_messages(redis_settings, tmp_path):
    listener = _spawn(["stream", "--type", "task", "--keys", "activity_id,status", "--count", "2"], tmp_path)
    try:
        _wait_for_line(listener, "stderr", "listening on redis")
        with Flowcept(workflow_name="streamed", start_persistence=False):
            for i in (0, 1, 3, 4):
                square(i)
        out, _ = listener.communicate(timeout=60)
    finally:
        if listener.poll() is None:
            listener.kill()
    lines = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    assert lines == [{"activity_id": "square", "status": "FINISHED"}] * 2


def test_upstream_help_for_one_flag_shows_that_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help", "--generate-report"])
    assert info.value.code == 0
    assert "usage: flowcept report" in capsys.readouterr().out


def test_check_services_says_which_service_is_down_and_why(tmp_path, monkeypatch, capsys):
    from tests.services import free_port

    pytest.importorskip("flowcept_redis", reason="the redis plugin is not installed")
    port = free_port()  # nothing listens there
    use_settings(
        tmp_path,
        monkeypatch,
        {
            "project": {"db_flush_mode": "online"},
            "mq": {"type": "redis", "host": "127.0.0.1", "port": port},
            "databases": {"lmdb": {"enabled": False}},
        },
    )
    assert main(["check-services"]) == 1
    (line,) = _lines(capsys)
    assert line.startswith("DOWN  mq:redis:") and str(port) in line
    use_settings(
        tmp_path, monkeypatch, {"project": {"db_flush_mode": "online"}, "databases": {"lmdb": {"enabled": False}}}
    )
    assert main(["check-services"]) == 0
    assert _lines(capsys) == ["ok    mq:memory: alive"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--show-settings"], ["settings"]),
        (["--init-settings", "--full", "-y", "--dask"], ["init-settings", "--force", "--full", "--dask"]),
        (["--init-settings", "-y"], ["init-settings", "--force"]),
        (["--init-settings", "--full"], ["init-settings", "--full"]),
        (
            ["--start-consumption-services", "--bundle-exec-id", "b1", "--check-safe-stops"],
            ["start-consumer", "--bundle-exec-id", "b1", "--check-safe-stops"],
        ),
        (
            ["--stream-messages", "--keys-to-show", "'activity_id','workflow_id'", "--messages-file-path", "m.jsonl"],
            ["stream", "--keys", "activity_id,workflow_id", "--output", "m.jsonl"],
        ),
        (
            ["--query", "--filter", "{}", "--project", '{"task_id": 1}', "--limit", "3"],
            ["query", "--filter", "{}", "--format", "jsonl", "--projection", '{"task_id": 1}', "--limit", "3"],
        ),
        (
            ["--generate-report", "--format", "PDF", "--input-path", "b.jsonl", "--output-path", "r.pdf"],
            ["report", "--format", "pdf", "--input", "b.jsonl", "--output", "r.pdf"],
        ),
    ],
)
def test_upstream_flags_map_to_subcommands(argv, expected):
    from flowcept_core.cli_legacy import translate

    assert translate(argv) == expected


def test_upstream_consumers_list_is_refused_naming_the_alternative():
    from flowcept_core.cli_common import UsageError
    from flowcept_core.cli_legacy import translate

    with pytest.raises(UsageError, match="--consumer module:ClassName"):
        translate(["--start-consumption-services", "--consumers", "a,b"])


def test_init_settings_adapter_flags_add_to_the_existing_file(tmp_path, capsys):
    path = tmp_path / "settings.yaml"
    assert main(["init-settings", str(path), "--dask"]) == 0
    assert main(["init-settings", str(path), "--full"]) == 2  # --full alone never overwrites
    assert "already exists" in capsys.readouterr().err
    assert main(["init-settings", str(path), "--force", "--mlflow"]) == 0
    import yaml

    adapters = yaml.safe_load(path.read_text())["adapters"]
    assert {"dask", "mlflow"} <= set(adapters)


def test_every_subcommand_help_has_examples(capsys):
    from flowcept_core.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        assert "examples:" in (parser.epilog or ""), f"flowcept {name} --help has no examples"
