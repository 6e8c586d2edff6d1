"""Running a fault scenario: settings file, producer and inserter processes, and the store compared with what was
produced (by task id and content).

Every process is a real interpreter running tests/reliability/producer.py or inserter.py through the public API; the
harness only starts, signals and reads them. Processes are stopped by their own ids in close().
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


@dataclass
class Outcome:
    """The store against what was produced: missing (tag, i), duplicated ones, documents with the wrong content."""

    expected: int
    stored: int
    lost: list = field(default_factory=list)
    duplicated: list = field(default_factory=list)
    wrong: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)

    def __str__(self) -> str:
        return (f"expected {self.expected}, stored {self.stored}: {len(self.lost)} lost {self.lost[:5]}, "
                f"{len(self.duplicated)} duplicated {self.duplicated[:5]}, {len(self.wrong)} wrong {self.wrong[:3]}, "
                f"{len(self.unexpected)} unexpected {self.unexpected[:5]}")


class Proc:
    """A child process whose stdout lines are collected (stderr goes to a log file)."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log = log
        self._err = open(log, "ab")
        self.popen = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=self._err, cwd=log.parent)
        self.lines: list[str] = []
        self.eof = False
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.popen.stdout:
            with self._changed:
                self.lines.append(raw.decode().strip())
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    def wait_line(self, prefix: str, timeout: float) -> str:
        """The first stdout line starting with prefix; AssertionError (with the log tail) after timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self._changed.wait(min(left, 0.2))
        raise AssertionError(f"no {prefix!r} line within {timeout}s (exit {self.popen.poll()}); "
                             f"stdout {self.lines[-5:]}; stderr tail: {self.stderr()[-1500:]}")

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def stderr(self) -> str:
        self._err.flush()
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
        self._err.close()


class Scenario:
    """One fault scenario: its settings (an own channel and store), its processes, and the check of the store."""

    def __init__(self, workdir: Path, mq: dict, stores: dict | None = None, **sections: Any):
        self.workdir = workdir
        self.workflow_id = f"wf-{uuid.uuid4().hex[:12]}"
        tree = {
            "project": {"db_flush_mode": "online", "dump_buffer": {"enabled": False}},
            "log": {"log_stream_level": "warning", "log_file_level": "disable"},
            "telemetry_capture": {"cpu": False, "mem": False, "machine_info": False, "process_info": False,
                                  "gpu": None, "disk": False, "network": False},
            "mq": {"channel": f"faults-{uuid.uuid4().hex[:10]}", "buffer_size": 100,
                   "insertion_buffer_time_secs": 0.2, "stop_timeout_secs": 60, "redelivery_secs": 3,
                   "spill_dir": str(workdir / "spill"), **mq},
            "db_buffer": {"insertion_buffer_time_secs": 0.2, "buffer_size": 1000},
            "databases": stores or {"lmdb": {"enabled": True, "path": str(workdir / "lmdb")},
                                    "mongodb": {"enabled": False}},
        }
        for key, value in sections.items():
            tree[key] = value
        self.tree = tree
        self.settings_path = workdir / "settings.yaml"
        self.settings_path.write_text(yaml.safe_dump(tree))
        self.env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": str(self.settings_path),
                    "FLOWCEPT_TEST_WORKFLOW_ID": self.workflow_id, "PYTHONPATH": str(ROOT)}
        self.procs: list[Proc] = []
        self.inserters: list[Proc] = []
        self.produced: set[tuple[str, int]] = set()
        self._logs = 0

    def _spawn(self, script: str, args: list[str], name: str) -> Proc:
        self._logs += 1
        proc = Proc([sys.executable, str(HERE / script), *args], self.env, self.workdir / f"{self._logs}-{name}.log")
        self.procs.append(proc)
        return proc

    def inserter(self) -> Proc:
        """Start a DocumentInserter process (joins the persistence group)."""
        proc = self._spawn("inserter.py", [], "inserter")
        self.inserters.append(proc)
        return proc

    def check_inserters(self) -> None:
        """AssertionError (with the last one's stderr) when every inserter started has exited."""
        if self.inserters and all(p.popen.poll() is not None for p in self.inserters):
            last = self.inserters[-1]
            raise AssertionError(f"no DocumentInserter is running (last exited {last.popen.poll()}): "
                                 f"{last.stderr()[-2000:]}")

    def producer(self, tag: str, n: int, threads: int = 1, pace: float = 0.0, hold: bool = False,
                 every: int = 0) -> Proc:
        """Start a producer of work(tag, i) for i < n; its tasks count as produced (callers adjust on kills)."""
        self.produced.update((tag, i) for i in range(n))
        args = [tag, str(n), str(threads), "--pace", str(pace), "--every", str(every)] + (["--hold"] if hold else [])
        return self._spawn("producer.py", args, f"producer-{tag}")

    def settings(self) -> Any:
        from flowcept_core.settings import Settings

        return Settings(self.tree)

    def stored(self) -> list[dict]:
        """The task documents of this scenario's workflow, read through DBAPI."""
        from flowcept_core.query import DBAPI

        return DBAPI(self.settings()).task_query({"workflow_id": self.workflow_id},
                                                  )

    def wait_stored(self, count: int, timeout: float, settle: float = 1.0) -> list[dict]:
        """Documents once `count` are stored (then `settle` s more, so late duplicates show), or at timeout."""
        deadline = time.monotonic() + timeout
        while True:
            docs = self.stored()
            if len(docs) >= count:
                time.sleep(settle)
                return self.stored()
            if time.monotonic() > deadline:
                return docs
            self.check_inserters()
            time.sleep(0.3)

    def wait_stable(self, count: int, timeout: float, quiet: float = 1.5) -> list[dict]:
        """Documents once `count` are stored or the count has not changed for `quiet` seconds (losses expected)."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while True:
            docs = self.stored()
            if len(docs) != last:
                last, since = len(docs), time.monotonic()
            if len(docs) >= count or time.monotonic() - since >= quiet or time.monotonic() > deadline:
                return docs
            time.sleep(0.3)

    def outcome(self, docs: list[dict], expected: set | None = None) -> Outcome:
        expected = self.produced if expected is None else expected
        keys = Counter()
        out = Outcome(expected=len(expected), stored=len(docs))
        ids = Counter(d.get("task_id") for d in docs)
        out.duplicated += [k for k, n in ids.items() if n > 1]
        for d in docs:
            used = d.get("used") or {}
            key = (used.get("tag"), used.get("i"))
            keys[key] += 1
            if key not in expected:
                out.unexpected.append(key)
            elif d.get("generated") != {"y": 2 * key[1]} or d.get("status") != "FINISHED":
                out.wrong.append(d)
        out.duplicated += [k for k, n in keys.items() if n > 1]
        out.lost = sorted(k for k in expected if k not in keys)
        return out

    def kill(self, proc: Proc, sig: int = signal.SIGKILL) -> None:
        proc.signal(sig)
        proc.wait(30)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.close()
