"""A student's session, in a real browser: JupyterLab on loopback, headless Chromium, notebook 03.

Marked ``browser`` (run them alone with ``pytest -m browser``). They need Debian's
``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); elsewhere they are skipped
with a note, except in CI, where a missing browser is a failure. Nothing is downloaded.
A screenshot is kept in ``artifacts/`` as a test artifact.
"""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
NOTEBOOK = os.environ.get("METANLP_BROWSER_NOTEBOOK", "notebooks/03_loss_landscapes.ipynb")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

pytestmark = pytest.mark.browser


def _need_browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        msg = f"{', '.join(missing)} not found: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    pytest.importorskip("selenium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 with a random token, serving a copy of notebooks/ (so nothing the
    browser does can touch the committed notebooks), autosave and news off; yields (url, token)."""
    _need_browser()
    port, token = _free_port(), secrets.token_hex(16)
    ARTIFACTS.mkdir(exist_ok=True)
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    settings = root / "settings"
    for plugin, value in (("docmanager-extension/plugin", '{"autosave": false}'),
                          ("apputils-extension/notification", '{"fetchNews": "false"}')):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    log = open(ARTIFACTS / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.open_browser=False", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start; see {ARTIFACTS / 'jupyterlab.log'}")
            time.sleep(0.5)
    yield url, token
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000", f"--user-data-dir={ARTIFACTS / 'chromium-profile'}"):
        opts.add_argument(flag)
    shutil.rmtree(ARTIFACTS / "chromium-profile", ignore_errors=True)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def _wait(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _figure_images(driver) -> list[str]:
    """The src of every image drawn inside a widget (the live figure of the slider's view)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea .jupyter-widgets img'))"
        ".map(img => img.src.slice(-4000));")


def test_notebook_runs_and_slider_redraws(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, token = lab
    assert (ROOT / NOTEBOOK).exists(), f"{NOTEBOOK} is missing"
    browser.get(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
    _wait(lambda: browser.execute_script(
        "const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
        " && w.sessionContext.session.kernel.status === 'idle');"), 120, "the notebook's kernel to start")
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    time.sleep(2)
    _wait(lambda: browser.execute_script(
        "const w = window.jupyterapp.shell.currentWidget;"
        "const busy = w.sessionContext.session.kernel.status !== 'idle';"
        "const prompts = Array.from(document.querySelectorAll('.jp-InputPrompt')).map(p => p.textContent);"
        "return !busy && !prompts.some(t => t.includes('*'));"), 600, "all cells to finish")

    errors = browser.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
    assert not errors, f"a cell shows an error: {errors[0].text[:500]}"

    sliders = browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .widget-slider .noUi-handle")
    assert sliders, "no slider was rendered: are ipywidgets working in JupyterLab?"
    before = _figure_images(browser)
    assert before, "no live figure (an image inside a widget) was found"
    handle = sliders[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    handle.click()
    for _ in range(3):
        handle.send_keys(Keys.ARROW_RIGHT)
    _wait(lambda: _figure_images(browser) != before, 60, "the figure to change after moving the slider")
    time.sleep(1)
    browser.save_screenshot(str(ARTIFACTS / "notebook03_slider.png"))
    errors = browser.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
    assert not errors, f"moving the slider raised: {errors[0].text[:500]}"
