"""Headless Chromium for bench/bench_ui.py: the page's own clock (body attributes it sets) tells when it was drawn,
counted a new task and appended it; the task the live-view figures store; a cold first view on a server just
started."""

from __future__ import annotations

import gc
import os
import threading
import time


def keeping_done(timeout: float = 60.0) -> None:
    """Wait until no server thread is keeping a workflow's figures on disk (flowcept_ui.workflow_figures)."""
    for t in threading.enumerate():
        if t.name == "flowcept-ui-keep":
            t.join(timeout)


def lineage_idle(settings, timeout: float = 600.0) -> None:
    """Wait until the LMDB store's lineage indexer (busy after the store was built here) has caught up."""
    from flowcept_core.query import open_store

    indexer = getattr(open_store(settings, "lmdb"), "lineage_indexer", None)
    if indexer is not None and indexer._thread is not None and not indexer.idle.wait(timeout):
        print("the lineage indexer is still busy: the figures below are slower than on an idle store")


def cold_view(settings, wid: str, view, drop: str | None = None) -> tuple[float, float]:
    """(wall, CPU seconds of this process) of view(base url, wid) on a server just started; drop: the LMDB directory
    whose kept figures are removed first (the workflow's first view ever)."""
    from flowcept_ui.server import UIServer

    keeping_done()
    if drop:
        import shutil

        shutil.rmtree(os.path.join(drop, "derived"), ignore_errors=True)
    fresh = UIServer(settings, port=0).start()
    try:
        c0 = time.process_time()
        wall = view(fresh.url, wid)
        cpu = time.process_time() - c0
    finally:
        fresh.stop()
        del fresh
        gc.collect()  # as in a process just started: nothing left of the previous server
    keeping_done()
    return wall, cpu


def store_live_task(db, wid: str, n: int) -> None:
    """Store a finished task into workflow wid (what the live view must show)."""
    now = time.time()
    db.insert_or_update_task(
        {
            "task_id": f"bench-live-{time.time_ns()}-{n}",
            "workflow_id": wid,
            "activity_id": "live",
            "status": "FINISHED",
            "started_at": now,
            "ended_at": now,
        }
    )


def _driver():
    if not (os.path.exists("/usr/bin/chromium") and os.path.exists("/usr/bin/chromedriver")):
        return None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def _attr(driver, name: str):
    return driver.find_element("tag name", "body").get_attribute(name)


def _wait(driver, name: str, differs_from=None, timeout: float = 120.0):
    """The body's attribute once set (and different from differs_from); polled every 50 ms, so that the polling
    itself (a WebDriver round trip each) takes little from the page and the server; times come from the page."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value = _attr(driver, name)
        if value and value != differs_from:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"the page did not set {name}")


def browser_live(base: str, wid: str, db, rounds: int = 5) -> list[tuple[float, float]] | None:
    """(seconds until the page shows the new count, seconds until it has added the task) per task stored, from the
    page's own clock (data-count-at, data-drawn-at: ms since the epoch, the same clock as time.time() here)."""
    driver = _driver()
    if driver is None:
        return None
    out = []
    try:
        driver.get(base + f"workflows/{wid}")
        _wait(driver, "data-ready")
        for n in range(rounds):
            time.sleep(1.0)
            counted, drawn = _attr(driver, "data-count-at"), _attr(driver, "data-drawn-at")
            store_live_task(db, wid, n)
            stored = time.time()
            counted = int(_wait(driver, "data-count-at", counted)) / 1000
            drawn = int(_wait(driver, "data-drawn-at", drawn)) / 1000
            out.append((counted - stored, drawn - stored))
    finally:
        driver.quit()
    return out


def browser_view(base: str, wid: str) -> float | None:
    """Seconds from navigation start to the page drawn, from the page's own clock (data-ready-ms)."""
    driver = _driver()
    if driver is None:
        return None
    try:
        driver.get(base)  # the browser itself warm; the server's figures for wid are not
        driver.get(base + f"workflows/{wid}")
        return float(_wait(driver, "data-ready-ms")) / 1000
    finally:
        driver.quit()
