"""The pages in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by selenium, on a
server over the known run. Asserts what a person sees: names, counts, the error message, drawn charts, lineage
links, and the live view updating without a reload."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import lmdb_settings
from known_run import CAMPAIGN_ID, EPOCHS, ERROR_TEXT, WORKFLOW_NAME

from flowcept_core.query import DBAPI

CHROMIUM = "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TIMEOUT = 60


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install selenium")
    if not os.path.exists(CHROMIUM) or not os.path.exists(DRIVER):
        pytest.skip(
            "chromium or chromedriver is missing: apt-get install -y chromium chromium-driver "
            "(scripts/test installs them when run as root)"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(TIMEOUT)
    yield driver
    driver.quit()


def _open(browser, url: str):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_element("tag name", "body").get_attribute("data-ready"))


def _css(browser, selector: str):
    return browser.find_elements("css selector", selector)


def test_workflow_list_finds_the_run_and_links_to_its_page(browser, known_run, serve):
    server, _ = serve(lmdb_settings(known_run.lmdb_path))
    _open(browser, server.url + "?name=known")
    rows = _css(browser, "table.workflows tbody tr")
    assert len(rows) == 1 and WORKFLOW_NAME in rows[0].text and str(EPOCHS + 3) in rows[0].text
    rows[0].find_element("link text", WORKFLOW_NAME).click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, TIMEOUT).until(
        lambda d: (
            d.current_url.endswith(known_run.workflow_id)
            and d.find_element("tag name", "body").get_attribute("data-ready")
        )
    )
    assert _css(browser, "#wf-summary h1")[0].text == WORKFLOW_NAME


def test_workflow_page_shows_counts_error_timeline_telemetry_and_loss_trend(browser, known_run, serve):
    server, _ = serve(lmdb_settings(known_run.lmdb_path))
    _open(browser, f"{server.url}workflows/{known_run.workflow_id}")
    assert _css(browser, "#task-count")[0].text == str(EPOCHS + 3)
    epoch_row = _css(browser, 'tr[data-activity="train_epoch"] td.count')[0]
    assert epoch_row.text == str(EPOCHS)
    assert ERROR_TEXT in _css(browser, "#errors .error-msg")[0].text
    assert len(_css(browser, "#timeline svg rect.bar")) == EPOCHS + 3
    assert _css(browser, "#telemetry svg path.series")[0].get_attribute("d").startswith("M")  # samples drawn
    assert _css(browser, "#telemetry svg circle")
    loss = _css(browser, '[data-trend="train_epoch.loss"] svg path.series')
    assert loss and loss[0].get_attribute("d").count("L") == EPOCHS - 1
    assert len(_css(browser, "table.tasks tbody tr")) == EPOCHS + 3
    assert CAMPAIGN_ID in _css(browser, "#wf-summary")[0].text


def test_task_page_shows_used_and_generated_trees_parent_and_lineage_links(browser, known_run, serve):
    server, client = serve(lmdb_settings(known_run.lmdb_path))
    wid = known_run.workflow_id
    fit = client.ok(f"/api/workflows/{wid}/tasks?activity_id=fit")["items"][0]
    epoch = client.ok(f"/api/workflows/{wid}/tasks?activity_id=train_epoch&limit=1")["items"][0]
    _open(browser, f"{server.url}tasks/{epoch['task_id']}")
    assert "epoch: 0" in _css(browser, "#used .tree")[0].text
    assert "loss: 2" in _css(browser, "#generated .tree")[0].text
    assert _css(browser, "#parent a")[0].get_attribute("href").endswith(f"/tasks/{fit['task_id']}")
    linked = [a.get_attribute("data-task") for a in _css(browser, "#lineage svg a.node")]
    assert fit["task_id"] in linked
    assert _css(browser, "#lineage svg line.edge")
    _open(browser, f"{server.url}tasks/{fit['task_id']}")
    assert len(_css(browser, "#children tbody tr")) == EPOCHS


def test_error_task_page_shows_the_message(browser, known_run, serve):
    server, client = serve(lmdb_settings(known_run.lmdb_path))
    failed = client.ok(f"/api/workflows/{known_run.workflow_id}/tasks?status=ERROR")["items"][0]
    _open(browser, f"{server.url}tasks/{failed['task_id']}")
    assert _css(browser, "#task-error")[0].text == ERROR_TEXT
    assert _css(browser, "#task-summary .badge")[0].text == "ERROR"


def test_campaign_page_lists_the_workflow(browser, known_run, serve):
    server, _ = serve(lmdb_settings(known_run.lmdb_path))
    _open(browser, f"{server.url}campaigns/{CAMPAIGN_ID}")
    assert WORKFLOW_NAME in _css(browser, "#campaign-workflows")[0].text
    assert "1–1 of 1" in browser.find_element("id", "campaign-pager").text


def test_campaign_page_pages_through_its_workflows(browser, tmp_path, serve):
    from selenium.webdriver.support.ui import WebDriverWait
    from test_api import PAGED_CAMPAIGN, PAGED_WORKFLOWS, _paged_campaign

    settings = lmdb_settings(str(tmp_path / "paged_lmdb"))
    _paged_campaign(settings)
    server, _ = serve(settings)
    _open(browser, f"{server.url}campaigns/{PAGED_CAMPAIGN}?limit=3")
    summary = browser.find_element("id", "campaign-summary").text
    assert f"workflows\n{PAGED_WORKFLOWS}" in summary and f"tasks\n{sum(range(PAGED_WORKFLOWS))}" in summary
    seen = []
    for expected in ("1–3 of 7", "4–6 of 7", "7–7 of 7"):
        assert expected in browser.find_element("id", "campaign-pager").text
        seen += [r.text.split("\n")[0].split(" ")[0:2] for r in _css(browser, "#campaign-workflows tbody tr")]
        nexts = browser.find_elements("link text", "next ›")
        if expected.startswith("7"):
            assert not nexts
            break
        nexts[0].click()
        WebDriverWait(browser, TIMEOUT).until(
            lambda d, e=expected: (
                e not in d.find_element("id", "campaign-pager").text
                and d.find_element("tag name", "body").get_attribute("data-ready")
            )
        )
    assert [" ".join(x) for x in seen] == [f"paged {n}" for n in range(PAGED_WORKFLOWS)]


def test_workflow_page_of_a_running_workflow_updates_without_reloading(browser, tmp_path, serve):
    from selenium.webdriver.support.ui import WebDriverWait

    settings = lmdb_settings(str(tmp_path / "live_lmdb"))
    db = DBAPI(settings)
    db.insert_or_update_workflow({"workflow_id": "wf-live", "name": "live run", "status": "RUNNING"})
    db.insert_or_update_task(
        {
            "task_id": "t-1",
            "workflow_id": "wf-live",
            "activity_id": "step",
            "status": "FINISHED",
            "started_at": 1.0,
            "ended_at": 2.0,
        }
    )
    server, _ = serve(settings, poll_secs=0.1)
    _open(browser, f"{server.url}workflows/wf-live")
    browser.execute_script("window.__same_page = true")
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_element("id", "live").is_displayed())
    db.insert_or_update_task(
        {
            "task_id": "t-2",
            "workflow_id": "wf-live",
            "activity_id": "step",
            "status": "ERROR",
            "started_at": 2.0,
            "ended_at": 3.0,
            "stderr": "RuntimeError: late failure",
        }
    )
    browser.execute_script(
        "window.__timeline = document.querySelector('#timeline svg');"
        "window.__first_row = document.querySelector('table.tasks tbody tr')"
    )
    drawn = browser.find_element("tag name", "body").get_attribute("data-drawn")
    db.insert_or_update_task(
        {
            "task_id": "t-2",
            "workflow_id": "wf-live",
            "activity_id": "step",
            "status": "ERROR",
            "started_at": 2.0,
            "ended_at": 3.0,
            "stderr": "RuntimeError: late failure",
        }
    )
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_element("id", "task-count").text == "2")
    WebDriverWait(browser, TIMEOUT).until(lambda d: "late failure" in d.find_element("id", "errors").text)
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: d.find_element("tag name", "body").get_attribute("data-drawn") != drawn
    )
    assert browser.execute_script("return window.__same_page") is True
    # appended, not drawn again: the same timeline and task table, one bar and one row more
    assert browser.execute_script("return document.querySelector('#timeline svg') === window.__timeline") is True
    assert browser.execute_script("return document.querySelector('table.tasks tbody tr') === window.__first_row")
    assert [r.get_attribute("data-task") for r in _css(browser, "#timeline svg rect.bar")] == ["t-1", "t-2"]
    rows = _css(browser, "table.tasks tbody tr")
    assert len(rows) == 2 and "t-2" in rows[1].text and "ERROR" in rows[1].text
    assert "1–2 of 2" in browser.find_element("id", "task-pager").text
    assert "ERROR 1" in browser.find_element("id", "by-status").text
    for n in range(3, 6):  # a burst: each arrives, appended after the others
        db.insert_or_update_task(
            {
                "task_id": f"t-{n}",
                "workflow_id": "wf-live",
                "activity_id": "other",
                "status": "FINISHED",
                "started_at": float(n),
                "ended_at": n + 0.5,
            }
        )
    WebDriverWait(browser, TIMEOUT).until(lambda d: len(_css(d, "table.tasks tbody tr")) == 5)
    WebDriverWait(browser, TIMEOUT).until(lambda d: len(_css(d, "#timeline svg rect.bar")) == 5)
    assert browser.execute_script("return document.querySelector('table.tasks tbody tr') === window.__first_row")
    assert _css(browser, 'tr[data-activity="other"]')  # the activity table of the update
    assert browser.execute_script("return window.__same_page") is True


def test_a_drawn_task_that_finishes_is_redrawn_in_place(browser, tmp_path, serve):
    from selenium.webdriver.support.ui import WebDriverWait

    settings = lmdb_settings(str(tmp_path / "live_lmdb"))
    db = DBAPI(settings)
    db.insert_or_update_workflow({"workflow_id": "wf-run", "name": "running", "status": "RUNNING"})
    first = {"task_id": "t-1", "workflow_id": "wf-run", "activity_id": "step", "status": "RUNNING", "started_at": 1.0}
    db.insert_or_update_task(first)
    db.insert_or_update_task({**first, "task_id": "t-2", "status": "FINISHED", "started_at": 2.0, "ended_at": 4.0})
    server, _ = serve(settings, poll_secs=0.1)
    _open(browser, f"{server.url}workflows/wf-run")
    WebDriverWait(browser, TIMEOUT).until(lambda d: d.find_element("id", "live").is_displayed())
    browser.execute_script(
        "window.__same_page = true; window.__timeline = document.querySelector('#timeline svg');"
        "window.__bar = document.querySelector('#timeline rect[data-task=\"t-1\"]')"
    )
    assert "RUNNING" in _css(browser, 'table.tasks tbody tr[data-task="t-1"]')[0].text
    db.insert_or_update_task({**first, "status": "FINISHED", "ended_at": 3.0})  # no new task: the count stays 2
    WebDriverWait(browser, TIMEOUT).until(
        lambda d: "FINISHED" in _css(d, 'table.tasks tbody tr[data-task="t-1"]')[0].text
    )
    WebDriverWait(browser, TIMEOUT).until(lambda d: "FINISHED 2" in d.find_element("id", "by-status").text)
    bar = browser.execute_script("return window.__bar")
    assert bar.get_attribute("fill") == "#2f8f4e" and float(bar.get_attribute("width")) > 2
    assert browser.execute_script("return document.querySelector('#timeline svg') === window.__timeline") is True
    assert browser.execute_script("return window.__same_page") is True
