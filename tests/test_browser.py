"""A student's session, in a real browser: JupyterLab on loopback, headless Chromium, notebooks
03 (a slider redraws a figure) and 07 (the "teach it" widget teaches the assistant a new intent).

Marked ``browser`` (run them alone with ``pytest -m browser``). They need Debian's
``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); elsewhere they are skipped
with a note, except in CI, where a missing browser is a failure. Nothing is downloaded.
Screenshots are kept in ``artifacts/`` as test artifacts.
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
LOG = ARTIFACTS / "jupyterlab.log"       # JupyterLab's own log, and its kernel's stderr
NOTEBOOK = os.environ.get("METANLP_BROWSER_NOTEBOOK", "notebooks/03_loss_landscapes.ipynb")
NOTEBOOK07 = "notebooks/07_continual_assistant.ipynb"
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
    browser does can touch the committed notebooks), with its own settings and workspace,
    autosave and news off; yields (url, token)."""
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
    log = open(LOG, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--ServerApp.open_browser=False", "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, env={**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings),
                                       # its own workspace: not one restored from ~/.jupyter (another run's tabs)
                                       "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces")})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300     # a first start compiles and caches; slow on a busy machine
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start; see {LOG}")
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
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; JupyterLab's log: {LOG}")


# How long one cell may run with nothing else finishing, and the whole notebook, before the
# test gives up. Notebook 03 runs in about a minute on 2 idle cores; these leave room for a
# slow or busy machine (the wait ends as soon as the notebook is done).
CELL_TIMEOUT, NOTEBOOK_TIMEOUT = 600, 1800

# The open notebook as JupyterLab's own models hold it: the kernel's status, whether the run
# started by _run_all has finished (and how), and each code cell's execution count, prompt and errors.
_STATE = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!w || !w.content || !w.sessionContext) return null;
const session = w.sessionContext.session;
const cells = [];
w.content.widgets.forEach((cell, index) => {
  if (cell.model.type !== 'code') return;
  const errors = [];
  const outputs = cell.model.outputs;
  for (let j = 0; j < outputs.length; j++) {
    const out = outputs.get(j).toJSON();
    if (out.output_type === 'error') errors.push(`${out.ename}: ${out.evalue}`);
  }
  const prompt = cell.node.querySelector('.jp-InputPrompt');
  cells.push({index, count: cell.model.executionCount, prompt: prompt ? prompt.textContent : '',
              errors, source: cell.model.sharedModel.getSource().slice(0, 300)});
});
return {path: w.context ? w.context.path : null, kernel: session && session.kernel ? session.kernel.status : null,
        run: window.__metanlpRunAll || null, cells};
"""

# JupyterLab's "Run All Cells" command returns a promise that settles once the kernel has
# replied to the last cell (true if every cell ran without error): the test waits on it,
# not on a guess of when the kernel has started working.
_RUN_ALL = """
window.__metanlpRunAll = null;
Promise.resolve(window.jupyterapp.commands.execute('notebook:run-all-cells')).then(
  ok => { window.__metanlpRunAll = {ok: ok === true}; },
  err => { window.__metanlpRunAll = {ok: false, error: String(err)}; });
"""


def _describe(cell: dict) -> str:
    first = cell["source"].strip().splitlines()[0] if cell["source"].strip() else ""
    return f"cell {cell['index']} (prompt {cell['prompt'].strip() or '[ ]:'}) {first!r}"


def _run_all(driver) -> dict:
    """Runs every cell of the open notebook; returns the final state. Fails, saying which cell
    it was on, if a cell runs longer than CELL_TIMEOUT, the notebook longer than NOTEBOOK_TIMEOUT
    or the kernel dies."""
    driver.execute_script(_RUN_ALL)
    start = last_progress = time.time()
    done_before = -1
    while True:
        state = driver.execute_script(_STATE)
        if state and state["run"] is not None:
            return state
        cells = state["cells"] if state else []
        done = sum(c["count"] is not None for c in cells)
        if done != done_before:
            done_before, last_progress = done, time.time()
        running = next((c for c in cells if "*" in c["prompt"]), None)
        where = (f"{done} of {len(cells)} code cells done; running: {_describe(running) if running else 'none'}; "
                 f"kernel {state['kernel'] if state else 'unknown'}; JupyterLab's log: {LOG}")
        now = time.time()
        if state and state["kernel"] in ("dead", "autorestarting", "restarting"):
            raise AssertionError(f"the kernel {state['kernel']} after {now - start:.0f} s: {where}")
        if now - last_progress > CELL_TIMEOUT:
            raise AssertionError(f"no cell finished in {CELL_TIMEOUT} s: {where}")
        if now - start > NOTEBOOK_TIMEOUT:
            raise AssertionError(f"the notebook did not finish in {NOTEBOOK_TIMEOUT} s: {where}")
        time.sleep(1)


def _figure_images(driver) -> list[str]:
    """The src of every image drawn inside a widget (the live figure of the slider's view)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('.jp-OutputArea .jupyter-widgets img'))"
        ".map(img => img.src.slice(-4000)).filter(src => src);")


def _error_outputs(driver) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')


def _open_and_run_all(driver, lab, notebook: str) -> None:
    """Opens ``notebook`` (a path under the served folder), waits for *its* kernel (not that of a
    notebook an earlier test opened in the same browser: the state must name this path), runs
    every cell and fails if one did not run or shows an error."""
    url, token = lab
    driver.get(f"{url}/lab/tree/{notebook}?token={token}")

    def ready() -> bool:
        state = driver.execute_script(_STATE)
        return bool(state and state["path"] == notebook and state["kernel"] == "idle")

    _wait(ready, 300, f"{notebook} to open and its kernel to start")
    state = _run_all(driver)
    assert state["path"] == notebook, f"ran {state['path']} instead of {notebook}"
    failed = [f"{_describe(c)}: {'; '.join(c['errors'])}" for c in state["cells"] if c["errors"]]
    assert state["run"]["ok"] and not failed, (
        f"the notebook did not run through: {state['run'].get('error', '')} {' | '.join(failed)}"[:2000])
    missing = [_describe(c) for c in state["cells"] if c["count"] is None]
    assert not missing, f"cells that were not run: {', '.join(missing)}"
    errors = _error_outputs(driver)
    assert not errors, f"a cell shows an error: {errors[0].text[:500]}"


def test_notebook_runs_and_slider_redraws(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    assert (ROOT / NOTEBOOK).exists(), f"{NOTEBOOK} is missing"
    try:
        _open_and_run_all(browser, lab, NOTEBOOK)

        # The widgets' views are drawn by the browser after the kernel has replied: wait for them.
        sliders = _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-OutputArea .widget-slider .noUi-handle"),
                        120, "a slider to be rendered (are ipywidgets working in JupyterLab?)")
        before = _wait(lambda: _figure_images(browser), 120, "the live figure (an image inside a widget)")
        handle = sliders[0]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
        handle.click()
        for _ in range(3):
            handle.send_keys(Keys.ARROW_RIGHT)
        # the kernel draws the new figure: as slow as the machine
        _wait(lambda: _figure_images(browser) not in ([], before), 300, "the figure to change after moving the slider")
        errors = _error_outputs(browser)
        assert not errors, f"moving the slider raised: {errors[0].text[:500]}"
        browser.save_screenshot(str(ARTIFACTS / "notebook03_slider.png"))
    except BaseException:
        browser.save_screenshot(str(ARTIFACTS / "notebook03_failure.png"))
        raise


TEACH_NAME, TEACH_EXAMPLES = "water the plants", ["remind me to water the plants", "the plants need watering"]
TEACH_TEST = "please water my tomato plants"


def test_teach_widget_teaches_the_assistant(lab, browser):
    """Notebook 07: all cells run, then the "teach it" widget (widgets.teach_intent, found by its CSS
    classes) predicts a test sentence, is taught a new intent, and the sentence's prediction becomes it."""
    from selenium.webdriver.common.by import By

    notebook = NOTEBOOK07
    assert (ROOT / notebook).exists(), f"{notebook} is missing"

    def one(cls: str, inner: str = ""):
        found = browser.find_elements(By.CSS_SELECTOR, f".jp-OutputArea .{cls} {inner}".strip())
        return found[0] if found else None

    def predictions() -> list[str]:
        cells = browser.find_elements(By.CSS_SELECTOR, ".teach-intent-output .teach-intent-prediction code")
        return [e.text.strip() for e in cells]

    def output() -> str:
        out = one("teach-intent-output")
        return out.text if out else "(no output widget)"

    def wait_for(predicate, what: str):
        try:
            return _wait(predicate, 300, what)      # the kernel embeds the sentences: as slow as the machine
        except AssertionError as err:
            raise AssertionError(f"{err}; the widget's output: {output()!r}") from None

    try:
        _open_and_run_all(browser, lab, notebook)
        # The widget's view is drawn by the browser after the kernel has replied: wait for it.
        name = _wait(lambda: one("teach-intent-name", "input"), 120,
                     "the teach widget (teach_intent's view: is it the last expression of its cell?)")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", name)
        name.send_keys(TEACH_NAME)
        one("teach-intent-examples", "textarea").send_keys("\n".join(TEACH_EXAMPLES))
        one("teach-intent-tests", "textarea").send_keys(TEACH_TEST)
        one("teach-intent-predict").click()
        before = wait_for(predictions, f"the prediction of {TEACH_TEST!r} after 'predict'")
        assert before[0] != TEACH_NAME, f"{TEACH_NAME!r} was predicted before it was taught: {output()!r}"
        assert not browser.find_elements(By.CSS_SELECTOR, ".teach-intent-error"), output()
        one("teach-intent-teach").click()
        wait_for(lambda: predictions()[:1] == [TEACH_NAME], f"{TEACH_NAME!r} to be predicted after 'teach'")
        assert "before" in output() and "ms" in output(), output()
        assert not browser.find_elements(By.CSS_SELECTOR, ".teach-intent-error"), output()
        errors = _error_outputs(browser)
        assert not errors, f"teaching raised: {errors[0].text[:500]}"
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", one("teach-intent-output"))
        browser.save_screenshot(str(ARTIFACTS / "notebook07_teach.png"))
    except BaseException:
        browser.save_screenshot(str(ARTIFACTS / "notebook07_failure.png"))
        raise
