"""Settings mistakes surface where a new user looks: in every run that reads them (as a SettingsWarning), and in
``flowcept settings`` / ``flowcept settings --check`` as one-line errors, never tracebacks."""

from __future__ import annotations

import warnings

import pytest
import yaml

from flowcept import Flowcept
from flowcept_core.cli import main
from flowcept_core.settings import SettingsWarning, get_settings, reset_settings


def _file(tmp_path, monkeypatch, text: str) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(path))
    reset_settings()
    return str(path)


OFFLINE = "project:\n  db_flush_mode: offline\ntelemetry_capture: {}\n"


def test_a_missing_settings_path_does_not_stop_the_program(tmp_path, monkeypatch):
    missing = str(tmp_path / "gone.yaml")
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", missing)
    with pytest.warns(SettingsWarning, match="gone.yaml"), Flowcept(workflow_name="still_runs") as fc:
        pass
    assert [m["name"] for m in fc.get_buffer() if m["type"] == "workflow"] == ["still_runs"]


def test_a_typo_warns_in_the_run_that_reads_the_file(tmp_path, monkeypatch):
    _file(tmp_path, monkeypatch, OFFLINE + "telemetry_captur:\n  cpu: true\nmq:\n  buffer_sise: 3\n")
    with pytest.warns(SettingsWarning) as caught, Flowcept():
        pass
    texts = [str(w.message) for w in caught]
    assert any("telemetry_captur" in t and "did you mean telemetry_capture" in t for t in texts), texts
    assert any("mq.buffer_sise" in t for t in texts), texts


def test_a_clean_file_gives_no_warning(tmp_path, monkeypatch):
    _file(tmp_path, monkeypatch, OFFLINE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SettingsWarning)
        get_settings()


def test_settings_command_prints_a_bad_value_as_one_line(tmp_path, monkeypatch, capsys):
    _file(tmp_path, monkeypatch, "mq:\n  buffer_size: -1\n")
    assert main(["settings"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: settings key mq.buffer_size = -1 must be at least 1"]
    assert "Traceback" not in err


def test_settings_command_names_the_environment_variables_that_set_values(tmp_path, monkeypatch, capsys):
    path = _file(tmp_path, monkeypatch, OFFLINE)
    monkeypatch.setenv("MQ_HOST", "broker.example")
    monkeypatch.setenv("MQ_BUFFER_SIZE", "7")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    source = out.splitlines()[0]
    assert source.startswith(f"# source: {path}")
    assert "mq.host from MQ_HOST" in source and "mq.buffer_size from MQ_BUFFER_SIZE" in source
    body = yaml.safe_load(out)
    assert body["mq"]["host"] == "broker.example" and body["mq"]["buffer_size"] == 7


def test_settings_command_validates_what_start_validates(tmp_path, monkeypatch, capsys):
    _file(tmp_path, monkeypatch, "mq:\n  type: redsi\ntelemetry_capture:\n  cpu: sometimes\nmy_team: {}\n")
    assert main(["settings"]) == 1
    out = capsys.readouterr().out
    assert "# error: unknown mq backend 'redsi'" in out
    assert "# error: telemetry_capture.cpu must be a bool" in out
    assert "# warning: unknown settings section my_team is ignored" in out
    with pytest.raises(Exception, match="redsi"):  # what the checks promise: start() stops on the same value
        Flowcept().start()


def test_check_reports_a_missing_settings_path_as_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLOWCEPT_SETTINGS_PATH", str(tmp_path / "nope.yaml"))
    assert main(["settings", "--check"]) == 1
    out = capsys.readouterr().out
    assert f"error: FLOWCEPT_SETTINGS_PATH='{tmp_path / 'nope.yaml'}' does not name an existing file" in out
    assert main(["settings"]) == 0  # without --check it is the warning a run gives
    assert "# warning: FLOWCEPT_SETTINGS_PATH=" in capsys.readouterr().out


def test_check_passes_on_good_settings(tmp_path, monkeypatch, capsys):
    _file(tmp_path, monkeypatch, OFFLINE)
    assert main(["settings", "--check"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok: settings are valid (0 warnings)"


def test_settings_of_a_run_carry_the_version(tmp_path, monkeypatch):
    from flowcept_core import __version__

    _file(tmp_path, monkeypatch, OFFLINE)
    with Flowcept() as fc:
        pass
    (wf,) = [m for m in fc.get_buffer() if m["type"] == "workflow"]
    assert wf["flowcept_settings"]["flowcept_version"] == __version__
