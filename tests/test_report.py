"""Flowcept.generate_report: the Markdown provenance card and the PDF report, from files, records and the store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from flowcept import Flowcept, flowcept_task, telemetry_flowcept_task
from flowcept_core.registry import reset_registry
from flowcept_core.settings import reset_settings
from flowcept_core.stores import close_stores
from tests._util import use_settings

REPO = Path(__file__).resolve().parents[1]


@telemetry_flowcept_task
def train_step(step):
    if step == 3:
        raise ValueError(f"diverged at step {step}")
    return {"loss": 1.0 / (step + 1), "note": "ok|fine"}


@flowcept_task
def epoch(n):
    done = 0
    for i in range(n):
        try:
            train_step(i)
            done += 1
        except ValueError:
            pass
    return done


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "training", extra: dict | None = None) -> str:
    """One captured run written to a buffer file; returns the file path."""
    path = tmp_path / f"{name}.jsonl"
    use_settings(
        tmp_path,
        monkeypatch,
        {
            "project": {"dump_buffer": {"path": str(path)}},
            "telemetry_capture": {"cpu": True, "mem": True},
            **(extra or {}),
        },
    )
    with Flowcept(workflow_name=name, workflow_args={"lr": 0.01}):
        epoch(6)
        epoch(2)
    return str(path)


def test_card_from_a_buffer_file_has_every_section(tmp_path, monkeypatch):
    path = _run(tmp_path, monkeypatch)
    out = tmp_path / "card.md"
    result = Flowcept.generate_report(input_jsonl_path=path, output_path=str(out))
    assert result["input_mode"] == "jsonl" and result["output_path"] == str(out)
    assert result["tasks"] == 10 and result["workflows"] == 1
    card = out.read_text()
    assert card.startswith("# Provenance card: training\n")
    for section in (
        "## Workflow summary",
        "### Run structure",
        "### Nesting",
        "### Inputs and outputs",
        "### Resource usage",
        "### Errors",
    ):
        assert section in card, section
    assert "| Status | FINISHED (9 finished, 1 error) |" in card
    assert "| 1 | `train_step` | 8 | 7 ok, 1 error |" in card  # children end first: they appear first
    assert "| 2 | `epoch` | 2 | 2 ok |" in card
    assert "epoch (2 tasks)\n  └─ train_step (8 tasks)" in card
    assert "| out | `loss` | 7/8 | float | 0.1667 .. 1 |" in card
    assert "| out | `note` | 7/8 | str | ok\\|fine |" in card  # a pipe in a value does not break the table
    assert "ValueError: diverged at step 3" in card
    assert "`lr`=0.01" in card
    resource = card.split("### Resource usage")[1].split("###")[0]
    assert "`train_step` | 8 |" in resource  # the per-call CPU time of @telemetry_flowcept_task is summed


def test_records_give_the_same_card_as_the_file(tmp_path, monkeypatch):
    path = _run(tmp_path, monkeypatch)
    records = Flowcept.read_buffer_file(path)
    a = Flowcept.generate_report(input_jsonl_path=path, output_path=str(tmp_path / "a.md"))
    b = Flowcept.generate_report(records=records, output_path=str(tmp_path / "b.md"), report_type="workflow_card")
    assert b["input_mode"] == "records"
    assert Path(a["output_path"]).read_text() == Path(b["output_path"]).read_text()


def test_campaign_gets_one_section_per_workflow_and_ids_filter(tmp_path, monkeypatch):
    first = Flowcept.read_buffer_file(_run(tmp_path, monkeypatch, "first"))
    second = Flowcept.read_buffer_file(_run(tmp_path, monkeypatch, "second"))
    for m in first + second:
        m["campaign_id"] = "camp-1"
    out = tmp_path / "campaign.md"
    Flowcept.generate_report(records=first + second, output_path=str(out))
    card = out.read_text()
    assert card.startswith("# Provenance card: campaign camp-1")
    assert "## Workflow first" in card and "## Workflow second" in card and "#### Run structure" in card
    wid = next(m["workflow_id"] for m in second if m["type"] == "workflow")
    one = Flowcept.generate_report(records=first + second, workflow_id=wid, output_path=str(tmp_path / "one.md"))
    assert one["workflows"] == 1 and "Provenance card: second" in Path(one["output_path"]).read_text()


def test_start_and_end_messages_of_one_task_count_once():
    start = {
        "type": "task",
        "task_id": "t1",
        "activity_id": "a",
        "workflow_id": "w",
        "status": "RUNNING",
        "started_at": 10.0,
        "used": {"x": 1},
    }
    end = {
        "type": "task",
        "task_id": "t1",
        "activity_id": "a",
        "workflow_id": "w",
        "status": "FINISHED",
        "ended_at": 12.5,
        "generated": {"y": 2},
    }
    hung = {
        "type": "task",
        "task_id": "t2",
        "activity_id": "a",
        "workflow_id": "w",
        "status": "RUNNING",
        "started_at": 11.0,
    }
    from flowcept_core.report.collect import RunCollector

    run = RunCollector()
    for m in (start, hung, end):
        run.add(m)
    act = run.finish().workflows["w"].activities["a"]
    assert act.count == 2 and act.statuses == {"FINISHED": 1, "RUNNING": 1}
    assert list(act.durations) == [2.5] and act.used["x"].count == 1 and act.generated["y"].count == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"report_type": "summary", "records": []}, "report_type='summary'.*provenance_card"),
        ({"report_type": "provenance_card", "format": "pdf", "records": []}, "supports only format='markdown'"),
        ({"report_type": "provenance_report", "records": []}, "supports only format='pdf'"),
        ({"records": [], "input_jsonl_path": "x.jsonl"}, "input_jsonl_path and records"),
        ({}, "no input"),
        ({"workflow_id": "w", "campaign_id": "c"}, "not both"),
        ({"records": "not a list"}, "records must be a list"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Flowcept.generate_report(**kwargs)


def test_missing_jsonl_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        Flowcept.generate_report(input_jsonl_path=str(tmp_path / "nope.jsonl"))


def test_print_markdown_without_rich_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['rich'] = None\n"
        "from flowcept import Flowcept\n"
        "try:\n"
        f"    Flowcept.generate_report(records=[], print_markdown=True, output_path={str(tmp_path / 'x.md')!r})\n"
        "except ModuleNotFoundError as e:\n"
        "    print('MNF', e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "MNF" in proc.stdout and "pip install flowcept[report]" in proc.stdout, proc.stdout + proc.stderr
    assert not (tmp_path / "x.md").exists()


def test_print_markdown_renders_in_the_terminal(tmp_path, monkeypatch, capsys):
    pytest.importorskip("rich", reason="rich is not installed (pip install flowcept[report])")
    path = _run(tmp_path, monkeypatch)
    Flowcept.generate_report(input_jsonl_path=path, print_markdown=True, output_path=str(tmp_path / "c.md"))
    shown = capsys.readouterr().out
    assert "Provenance card: training" in shown and "train_step" in shown
    assert "| ---" not in shown  # rendered as a table, not printed as source


def test_report_from_the_database(tmp_path, monkeypatch):
    pytest.importorskip("flowcept_lmdb", reason="the lmdb plugin is not installed")
    close_stores()
    try:
        use_settings(
            tmp_path,
            monkeypatch,
            {
                "project": {"db_flush_mode": "online"},
                "telemetry_capture": {"cpu": True, "mem": True},
                "databases": {"lmdb": {"enabled": True, "path": str(tmp_path / "db")}},
            },
        )
        with Flowcept(workflow_name="stored") as fc:
            epoch(4)
        result = Flowcept.generate_report(workflow_id=fc.current_workflow_id, output_path=str(tmp_path / "db.md"))
        assert result["input_mode"] == "db" and result["tasks"] == 5
        card = Path(result["output_path"]).read_text()
        assert "Provenance card: stored" in card and "| Status | FINISHED (4 finished, 1 error) |" in card
        with pytest.raises(LookupError, match="no-such-workflow"):
            Flowcept.generate_report(workflow_id="no-such-workflow", output_path=str(tmp_path / "none.md"))
    finally:
        close_stores()
        reset_settings()
        reset_registry()


def test_report_streams_its_input(tmp_path):
    """A large buffer file reports with far less memory than loading it would take."""
    import tracemalloc

    path = tmp_path / "big.jsonl"
    line = {
        "type": "task",
        "activity_id": "step",
        "workflow_id": "w",
        "status": "FINISHED",
        "used": {"x": 1, "payload": "p" * 600},
        "generated": {"loss": 0.5},
    }
    with open(path, "wb") as f:
        for i in range(60_000):
            f.write(orjson.dumps({**line, "task_id": f"t{i}", "started_at": i, "ended_at": i + 0.5}) + b"\n")
    size = os.path.getsize(path)
    tracemalloc.start()
    try:
        result = Flowcept.generate_report(input_jsonl_path=str(path), output_path=str(tmp_path / "big.md"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["tasks"] == 60_000
    assert peak < size / 2, (peak, size)  # a list of the messages alone would be about 3x the file


def _blue_pixels(png: Path) -> int:
    from PIL import Image

    data = Image.open(png).convert("RGB").tobytes()
    return sum(
        1 for i in range(0, len(data), 3) if data[i + 2] > 150 and data[i] < 90 and 90 < data[i + 1] < 150
    )  # matplotlib's C0 blue


def test_pdf_report_has_the_card_and_every_plot_with_data(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install flowcept[report])")
    pytest.importorskip("PIL", reason="pillow comes with matplotlib")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed; scripts/test installs it where it can")
    path = _run(tmp_path, monkeypatch)
    pdf = tmp_path / "report.pdf"
    result = Flowcept.generate_report("provenance_report", "pdf", input_jsonl_path=path, output_path=str(pdf))
    assert result["plots"][:2] == ["Task timeline", "Task duration per activity"]
    assert "Trend of train_step.loss" in result["plots"] and "Machine CPU and memory over time" in result["plots"]
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    plot_pages = pages[-len(result["plots"]) :]
    assert len(pages) > len(result["plots"])  # the card's text comes first
    for title, page in zip(result["plots"], plot_pages, strict=True):
        assert _blue_pixels(page) > 20, f"plot {title!r} ({page.name}) has no data drawn"
    assert _blue_pixels(pages[0]) < 5  # a text page: the check above can tell


def test_malformed_lines_are_skipped_and_counted(tmp_path, monkeypatch, caplog):
    path = Path(_run(tmp_path, monkeypatch))
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{not json", *lines[1:], '{"type": "task", "task_id": ']) + "\n")
    monkeypatch.chdir(tmp_path)
    result = Flowcept.generate_report(input_jsonl_path=str(path))
    assert result["skipped_lines"] == 2 and result["tasks"] == 10
    assert result["output"] == result["output_path"] == str(tmp_path / "WORKFLOW_CARD.md")  # upstream's default
    assert result["markdown"] == (tmp_path / "WORKFLOW_CARD.md").read_text()
    assert result["activities"] == 2 and result["objects"] == 0


def test_core_imports_leave_report_libraries_out():
    code = (
        "import sys\n"
        "from flowcept import Flowcept, flowcept_task, telemetry_flowcept_task\n"
        "import flowcept_core.cli, flowcept_core.report, flowcept_core.telemetry\n"
        "print([m for m in ('psutil', 'rich', 'matplotlib', 'numpy', 'pandas') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
