"""Screenshots of the provenance browser for docs/: the workflows list, a workflow page and a task page.

Captures the tests' known run (tests/known_run.py) in a temporary directory, serves it, and drives headless
Chromium (Debian's chromium + chromium-driver, through selenium). Run from the repository root:

    .venv/bin/python plugins/ui/scripts/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _ready(driver, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.find_element("tag name", "body").get_attribute("data-ready"):
            time.sleep(0.3)  # let the browser lay out the charts
            return
        time.sleep(0.1)
    raise TimeoutError("the page did not finish loading")


def _shoot(driver, url: str, path: Path, height: int | None = None) -> None:
    driver.get(url)
    _ready(driver)
    full = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(height or full, 2400) + 40)
    time.sleep(0.3)
    driver.save_screenshot(str(path))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img", help="folder for ui-*.png (default docs/img)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    sys.path.insert(0, str(HERE.parent / "tests"))
    with tempfile.TemporaryDirectory() as where:
        env = {**os.environ, "FLOWCEPT_SETTINGS_PATH": os.path.join(where, "none.yaml")}
        run = subprocess.run(
            [sys.executable, str(HERE.parent / "tests" / "known_run.py")],
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        workflow_id = run.stdout.strip().splitlines()[-1]
        from flowcept_ui.cli import settings_for_store
        from flowcept_ui.server import UIServer

        server = UIServer(settings_for_store(os.path.join(where, "flowcept_lmdb")), port=0).start()
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1400,900",
            "--force-device-scale-factor=1",
        ):
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        try:
            api = server.url + f"api/workflows/{workflow_id}/tasks?activity_id=fit"
            fit = json.load(urllib.request.urlopen(api))["items"][0]["task_id"]
            _shoot(driver, server.url, out / "ui-workflows.png", height=400)
            _shoot(driver, f"{server.url}workflows/{workflow_id}", out / "ui-workflow.png")
            _shoot(driver, f"{server.url}tasks/{fit}", out / "ui-task.png")
        finally:
            driver.quit()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
