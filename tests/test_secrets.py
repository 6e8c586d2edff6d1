"""Secrets never leave the process: arguments, results, FlowceptTask values, nested dicts, headers, URL passwords,
extra_metadata, the settings snapshot and the process command line are masked before the MQ, so the raw Redis
stream, the buffer file, the LMDB files and a MongoDB-wire store hold none of them; the clear values next to them
are kept. The capture runs in a child process whose command line carries secrets too."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowcept import Flowcept
from tests._util import use_settings

SECRETS = ("hunter2-pos", "k-default-val", "tok-kw-val", "sess-XYZ-val", "nested-pw-val", "Bearer abc-val",
           "xk-header-val", "url-pw-val", "cred-pw-val", "AK-generated-val", "meta-token-val", "kv-secret-pw",
           "kv-uri-pw", "cli-pw-val", "cli-tok-val", "camel-pw-val", "meta-deco-val")
CLEAR = ("alice-user", "db.example.org", "region-west", "keep-me-val", "plain-meta-val")

WORKLOAD = textwrap.dedent("""
    import sys
    from flowcept import Flowcept, FlowceptTask, flowcept_task

    @flowcept_task(custom_metadata={"api_token": "meta-deco-val", "note": "keep-me-val"})
    def connect(host, password, api_key="k-default-val"):
        return {"session_token": "sess-XYZ-val", "region": "region-west"}

    @flowcept_task
    def login(**kwargs):
        return "ok"

    @flowcept_task
    def configure(cfg):
        return cfg

    @flowcept_task(output_names="access_token")
    def issue(user):
        return "tok-kw-val"

    with Flowcept(workflow_name="secrets") as fc:
        connect("db.example.org", "hunter2-pos")
        login(user="alice-user", token="tok-kw-val", dbPassword="camel-pw-val")
        configure({"db": {"db_password": "nested-pw-val", "host": "db.example.org"},
                   "headers": {"Authorization": "Bearer abc-val", "X-Api-Key": "xk-header-val"},
                   "dsn": "postgres://alice-user:url-pw-val@db.example.org/x", "note": "keep-me-val"})
        issue("alice-user")
        used = {"credentials": {"pw": "cred-pw-val"}, "who": "alice-user"}
        with FlowceptTask(activity_id="explicit", used=used) as t:
            t.end(generated={"access_key": "AK-generated-val", "note": "keep-me-val"})
    with open("workflow_id.txt", "w") as f:
        f.write(fc.current_workflow_id)
""")


def _settings(tmp_path: Path, extra: dict) -> dict:
    base = {
        "telemetry_capture": {"cpu": True, "process_info": True, "interval_secs": 0.1},
        "extra_metadata": {"deploy_token": "meta-token-val", "team": "plain-meta-val"},
        "kv_db": {"enabled": False, "password": "kv-secret-pw", "uri": "redis://u:kv-uri-pw@kv.example.org:1/0"},
        "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}},
    }
    for k, v in extra.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    return base


def _run_workload(tmp_path: Path, settings_path: str) -> str:
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    env = dict(os.environ, FLOWCEPT_SETTINGS_PATH=settings_path, PYTHONPATH=os.getcwd() + os.pathsep +
               str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, str(script), "--password=cli-pw-val", "--token", "cli-tok-val"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return (tmp_path / "workflow_id.txt").read_text()


def _assert_masked(data: bytes, where: str) -> None:
    leaked = [s for s in SECRETS if s.encode() in data]
    assert not leaked, f"{where} holds {leaked}"
    kept = [s for s in CLEAR if s.encode() in data]
    assert kept == list(CLEAR), f"{where} lost clear values: has only {kept}"


def _check_documents(wf: str) -> None:
    tasks = {d["activity_id"]: d for d in Flowcept.db.task_query({"workflow_id": wf})}
    assert tasks["connect"]["used"] == {"host": "db.example.org", "password": "***", "api_key": "***"}
    assert tasks["connect"]["generated"] == {"session_token": "***", "region": "region-west"}
    assert tasks["connect"]["custom_metadata"] == {"api_token": "***", "note": "keep-me-val"}
    assert tasks["login"]["used"] == {"user": "alice-user", "token": "***", "dbPassword": "***"}
    cfg = tasks["configure"]["used"]["cfg"]
    assert cfg["db"] == {"db_password": "***", "host": "db.example.org"}
    assert cfg["headers"] == {"Authorization": "***", "X-Api-Key": "***"}
    assert cfg["dsn"] == "postgres://alice-user:***@db.example.org/x"
    assert tasks["issue"]["generated"] == {"access_token": "***"}
    assert tasks["explicit"]["used"] == {"credentials": "***", "who": "alice-user"}
    assert tasks["explicit"]["generated"] == {"access_key": "***", "note": "keep-me-val"}
    cmd = next(d["telemetry_at_end"]["process"]["cmd_line"] for d in tasks.values()
               if "process" in (d.get("telemetry_at_end") or {}))
    assert cmd[-3:] == ["--password=***", "--token", "***"]
    wf_doc = Flowcept.db.get_workflow_object(wf)
    wf_doc = wf_doc if isinstance(wf_doc, dict) else wf_doc.to_dict()
    assert wf_doc["extra_metadata"] == {"deploy_token": "***", "team": "plain-meta-val"}
    assert wf_doc["flowcept_settings"]["kv_db"]["password"] == "***"


def test_secrets_reach_neither_the_redis_stream_nor_lmdb(tmp_path, monkeypatch, redis_port):  # noqa: F811
    channel = f"secrets-{uuid.uuid4().hex[:8]}"
    path = use_settings(tmp_path, monkeypatch, _settings(tmp_path, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "mq": {"type": "redis", "host": "127.0.0.1", "port": redis_port, "channel": channel,
               "insertion_buffer_time_secs": 0.2}}))
    wf = _run_workload(tmp_path, path)
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_port)
    try:
        raw = b"".join(v for _, fields in client.xrange(channel) for v in fields.values())
        client.delete(channel)
    finally:
        client.close()
    _assert_masked(raw, "the raw Redis stream")
    _check_documents(wf)
    _assert_masked(b"".join(p.read_bytes() for p in (tmp_path / "db").iterdir()), "the LMDB files")


def test_secrets_reach_neither_the_buffer_file_nor_lmdb_in_the_default_pipeline(tmp_path, monkeypatch):
    path = use_settings(tmp_path, monkeypatch, _settings(tmp_path, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": True, "path": "buffer.jsonl"}}}))
    wf = _run_workload(tmp_path, path)
    _assert_masked((tmp_path / "buffer.jsonl").read_bytes(), "the buffer file")
    _check_documents(wf)
    _assert_masked(b"".join(p.read_bytes() for p in (tmp_path / "db").iterdir()), "the LMDB files")


def test_secrets_never_reach_a_mongodb_wire_store(tmp_path, monkeypatch, mongo_uri):
    db = f"secrets_{uuid.uuid4().hex[:8]}"
    path = use_settings(tmp_path, monkeypatch, _settings(tmp_path, {
        "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
        "databases": {"lmdb": {"enabled": False}, "mongodb": {"enabled": True, "uri": mongo_uri, "db": db}}}))
    wf = _run_workload(tmp_path, path)
    _check_documents(wf)
    import bson
    import pymongo

    client = pymongo.MongoClient(mongo_uri)
    try:
        raw = b"".join(bson.encode(d) for name in client[db].list_collection_names() for d in client[db][name].find())
    finally:
        client.close()
    _assert_masked(raw, "the MongoDB-wire store")


def test_redaction_can_be_switched_off_and_extended(tmp_path, monkeypatch):
    use_settings(tmp_path, monkeypatch, {"project": {"redact_secrets": False}})
    from flowcept import flowcept_task

    @flowcept_task
    def f(password: str, session_id: str) -> None:
        return None

    with Flowcept():
        f("clear-pw", "sid-1")
    assert Flowcept.read_buffer_file()[-1]["used"] == {"password": "clear-pw", "session_id": "sid-1"}

    use_settings(tmp_path, monkeypatch, {"project": {"secret_keys": ["session_id"]}})
    with Flowcept():
        f("clear-pw", "sid-1")
    assert Flowcept.read_buffer_file()[-1]["used"] == {"password": "***", "session_id": "***"}


@pytest.mark.parametrize("value", ["session_id", ["ok", 3], ["ok", ""]])
def test_a_bad_secret_keys_setting_names_the_bad_value(tmp_path, monkeypatch, value: Any):
    from flowcept_core.settings import SettingsError, get_settings

    with pytest.raises(SettingsError, match=r"project\.secret_keys"):
        use_settings(tmp_path, monkeypatch, {"project": {"secret_keys": value}})
        get_settings()
