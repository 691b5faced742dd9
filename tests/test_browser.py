"""The `Previewer` widget in a real browser, driven as a user would: Voila and JupyterLab, Playwright, system Chromium.

Needs `apt-get install chromium chromium-driver` and `pip install playwright voila jupyterlab` (never `playwright
install`: the system Chromium is used). Without /usr/bin/chromium (or Playwright, Voila, JupyterLab) the tests skip,
unless the environment variable CI is set: then they fail, because CI must install them.

Servers listen on 127.0.0.1 only, on free ports, with their Jupyter config, data, runtime, settings and workspace
folders in a temporary directory (nothing is written to the repository or the home folder), and are always stopped.
Screenshots and server logs go to tests/artifacts/ (gitignored).
"""
from __future__ import annotations
import importlib.util, os, re, shutil, signal, socket, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
NB_REL = "tests/browser/_preview.ipynb"
ART = ROOT / "tests" / "artifacts"
BIN = Path(sys.executable).parent  # the venv's bin: its voila and jupyter-lab
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 45  # s for a server to listen
UI_TIMEOUT = 30_000  # ms for the page to show the widget
CHANGE_TIMEOUT = 15  # s for the image to change after an action
IMAGE = "img.widget-image"

def _in_ci() -> bool: return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")

def _require(ok:bool, what:str):
    "Skip without `what` on a developer machine; fail in CI, which must install it."
    if ok: return
    if _in_ci(): pytest.fail(f"{what} is missing and CI is set: CI must install it", pytrace=False)
    pytest.skip(f"{what} is missing (apt-get install chromium chromium-driver; pip install playwright voila jupyterlab)")

@pytest.fixture(scope="module")
def playwright():
    _require(CHROMIUM.exists(), str(CHROMIUM))
    for mod in ("playwright", "voila", "jupyterlab"): _require(importlib.util.find_spec(mod) is not None, f"Python package {mod}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw: yield pw

@pytest.fixture
def page(playwright, tmp_path):
    "A fresh headless Chromium profile and page; the browser is closed after the test."
    xdg = {v: str(tmp_path / v.lower()) for v in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME")}
    ctx = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900}, env=dict(os.environ, **xdg))  # nothing written under ~/.cache
    ctx.set_default_timeout(UI_TIMEOUT)
    try: yield ctx.pages[0] if ctx.pages else ctx.new_page()
    finally: ctx.close()

# ---- servers

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def _env(tmp:Path) -> dict:
    "The environment with every Jupyter/IPython user folder moved into `tmp`, and JupyterLab's user settings there."
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for var, sub in {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
                     "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib", "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
                     "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces"}.items():
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / sub)
    # the same effect as overrides.json in the environment's share/jupyter/lab/settings, as user settings in `tmp`:
    # start the notebook's kernel without a "Select Kernel" dialog, no news or update toast
    for plugin, value in {"@jupyterlab/notebook-extension/tracker": '{"autoStartDefaultKernel": true, "windowingMode": "none"}',
                          "@jupyterlab/apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}'
                          }.items():
        f = tmp / "lab-settings" / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(value)
    return env

def _descendants(pid:int) -> list:
    try:
        import psutil
        return psutil.Process(pid).children(recursive=True)
    except Exception: return []

def _stop(proc:subprocess.Popen):
    "Stop a server we started (its own process group): SIGTERM lets it shut its kernels down; then SIGKILL leftovers."
    kids = _descendants(proc.pid)
    if proc.poll() is None:
        try: os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError: pass
        try: proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try: os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError: pass
            proc.wait(timeout=10)
    for k in kids:  # kernels run in their own sessions: kill any the server did not stop
        try: k.wait(timeout=5)
        except Exception:
            try: k.kill()
            except Exception: pass

@contextmanager
def _server(name:str, cmd:list, port:int, env:dict, cwd:Path):
    ART.mkdir(parents=True, exist_ok=True)
    log_path = ART / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd, start_new_session=True)
        try:
            end = time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}", pytrace=False)
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1): break
                except OSError:
                    if time.monotonic() > end:
                        pytest.fail(f"{name} not listening after {START_TIMEOUT}s:\n{log_path.read_text()[-3000:]}",
                                    pytrace=False)
                    time.sleep(0.2)
            yield proc
        finally: _stop(proc)

@pytest.fixture(scope="module")
def voila(playwright, tmp_path_factory):
    "Voila serving the repository's own notebook; yields its URL."
    tmp, port = tmp_path_factory.mktemp("voila"), _free_port()
    cmd = [str(BIN / "voila"), str(ROOT / NB_REL), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           "--Voila.port_retries=0", "--show_tracebacks=True"]
    with _server("voila", cmd, port, _env(tmp), tmp): yield f"http://127.0.0.1:{port}/"

@pytest.fixture(scope="module")
def lab(playwright, tmp_path_factory):
    "JupyterLab on a temporary copy of tests/browser and samples (it writes checkpoints); yields the notebook's URL."
    tmp, port, token = tmp_path_factory.mktemp("lab"), _free_port(), os.urandom(12).hex()
    root = tmp / "root"
    shutil.copytree(ROOT / "tests" / "browser", root / "tests" / "browser")
    shutil.copytree(ROOT / "samples", root / "samples")
    cmd = [str(BIN / "jupyter-lab"), "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}"]
    with _server("jupyterlab", cmd, port, _env(tmp), tmp): yield f"http://127.0.0.1:{port}/lab/tree/{NB_REL}?token={token}"

# ---- the widget's image

_DIGEST_JS = """async img => {
  if (!img.src || !img.complete || !img.naturalWidth) return null;
  const buf = await (await fetch(img.src)).arrayBuffer();
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
  return Array.from(d, x => x.toString(16).padStart(2, '0')).join('') + ':' + buf.byteLength;
}"""

def _digest(img) -> str|None:
    "SHA-256 and length of the bytes the displayed image was decoded from (its blob/data `src`)."
    try: return img.evaluate(_DIGEST_JS)
    except Exception: return None  # src swapped (old blob revoked) mid-fetch: ask again

def _shown(img) -> str:
    end = time.monotonic() + CHANGE_TIMEOUT
    while time.monotonic() < end:
        if d := _digest(img): return d
        time.sleep(0.1)
    raise AssertionError("the widget image never showed decoded bytes")

def _changed(img, before:str, action:str) -> str:
    "Wait until the displayed image's bytes differ from `before`; fail naming `action` if they never do."
    end = time.monotonic() + CHANGE_TIMEOUT
    while time.monotonic() < end:
        now = _digest(img)
        if now and now != before: return now
        time.sleep(0.1)
    raise AssertionError(f"the displayed image did not change after {action} (waited {CHANGE_TIMEOUT}s)")

class Shots:
    "Numbered screenshots of one test in tests/artifacts/, and one more if the test fails."
    def __init__(self, page, prefix): self.page, self.prefix, self.n = page, prefix, 0
    def __call__(self, step:str):
        self.n += 1
        ART.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ART / f"{self.prefix}-{self.n}-{step}.png"), full_page=True)

@contextmanager
def _shots(page, prefix):
    shot = Shots(page, prefix)
    try: yield shot
    except BaseException:
        try: shot("FAILED")
        except Exception: pass
        raise

def _status(page, text): return page.locator(".widget-html").filter(has_text=text)

# ---- the tests

def test_voila_previewer(voila, page):
    from playwright.sync_api import expect
    with _shots(page, "voila") as shot:
        page.goto(voila, timeout=UI_TIMEOUT)
        img = page.locator(IMAGE)
        expect(img).to_be_visible()
        expect(_status(page, "street_01.jpg — image 1 of 4")).to_be_visible()
        h = _shown(img)
        shot("loaded")

        page.get_by_role("button", name="next ▶").click()
        h = _changed(img, h, 'clicking "next ▶"')
        expect(_status(page, "street_02.jpg — image 2 of 4")).to_be_visible()
        shot("next")

        car = page.get_by_role("checkbox", name=re.compile(r"^car \(\d+\)$"))
        expect(car).to_be_checked()
        car.uncheck()
        h = _changed(img, h, 'unticking the "car" category')
        expect(car).not_to_be_checked()
        shot("no-cars")

        opacity = page.locator(".widget-slider").filter(has=page.locator("label.widget-label", has_text=re.compile(r"^opacity$")))
        readout = opacity.locator(".widget-readout")
        before = readout.inner_text()
        opacity.get_by_role("slider").focus()
        page.keyboard.press("ArrowRight")
        h = _changed(img, h, "ArrowRight on the opacity slider")
        expect(readout).not_to_have_text(before)
        shot("opacity-key")

        box = opacity.locator(".noUi-base").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.95, box["y"] + box["height"] / 2)
        h = _changed(img, h, "clicking near the right end of the opacity slider")
        assert float(readout.inner_text()) >= 0.9, readout.inner_text()
        page.wait_for_timeout(400)  # let the handle finish its 300 ms slide before the screenshot
        shot("opacity-click")

        img.hover()  # ipyevents listens for keys while the pointer is over the image
        page.keyboard.press("ArrowRight")
        h = _changed(img, h, "ArrowRight on the image")
        expect(_status(page, "street_03.jpg — image 3 of 4")).to_be_visible()
        shot("key-next")

        page.keyboard.press("ArrowLeft")
        h = _changed(img, h, "ArrowLeft on the image")
        expect(_status(page, "street_02.jpg — image 2 of 4")).to_be_visible()
        shot("key-prev")

def test_jupyterlab_previewer(lab, page):
    from playwright.sync_api import expect, TimeoutError as PWTimeout
    with _shots(page, "lab") as shot:
        page.goto(lab, timeout=UI_TIMEOUT)
        expect(page.locator(".jp-NotebookPanel .jp-CodeCell").first).to_be_visible()
        shot("opened")
        out = page.locator(".jp-NotebookPanel .jp-OutputArea")
        img = out.locator(IMAGE)
        # "Run All Cells" before the kernel is connected does nothing: try again until the widget appears
        for attempt in range(6):
            dialog = page.locator(".jp-Dialog")
            if dialog.count(): dialog.get_by_role("button", name=re.compile("^(Select|Ok)$", re.I)).click()
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item:visible").filter(has_text=re.compile(r"^Run All Cells")).first.click()
            try:
                img.wait_for(state="visible", timeout=8_000)
                break
            except PWTimeout: page.keyboard.press("Escape")
        expect(img).to_be_visible(timeout=5_000)
        expect(page.locator(".jp-Dialog")).to_have_count(0)
        expect(out.locator(".widget-html").filter(has_text="street_01.jpg — image 1 of 4")).to_be_visible()
        h = _shown(img)
        img.scroll_into_view_if_needed()
        shot("widget")

        out.get_by_role("button", name="next ▶").click()
        h = _changed(img, h, 'clicking "next ▶" in JupyterLab')
        expect(out.locator(".widget-html").filter(has_text="street_02.jpg — image 2 of 4")).to_be_visible()
        shot("next")

# ---- the newcomer's path: tutorial 1 run top to bottom in JupyterLab

TUTORIAL = "nbs/tutorials/01_preannotation_upload.ipynb"

@pytest.fixture(scope="module")
def lab_tutorial(playwright, tmp_path_factory):
    "JupyterLab on a copy of tutorial 1 with its outputs cleared (what shows must come from this run), and the samples."
    import nbformat
    tmp, port, token = tmp_path_factory.mktemp("lab_tutorial"), _free_port(), os.urandom(12).hex()
    root = tmp / "root"
    nb = nbformat.read(ROOT / TUTORIAL, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code": c.outputs, c.execution_count = [], None
    (root / TUTORIAL).parent.mkdir(parents=True)
    nbformat.write(nb, root / TUTORIAL)
    shutil.copytree(ROOT / "samples", root / "samples")
    cmd = [str(BIN / "jupyter-lab"), "--no-browser", "--allow-root", f"--port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}"]
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    with _server("jupyterlab-tutorial", cmd, port, _env(tmp), tmp):
        yield f"http://127.0.0.1:{port}/lab/tree/{TUTORIAL}?token={token}", n_code

def test_jupyterlab_tutorial1(lab_tutorial, page):
    "Tutorial 1 run with Run All Cells: every cell runs without an error, pictures appear, the upload is made."
    from playwright.sync_api import expect, TimeoutError as PWTimeout
    url, n_code = lab_tutorial
    with _shots(page, "tutorial1") as shot:
        page.goto(url, timeout=UI_TIMEOUT)
        cells = page.locator(".jp-NotebookPanel .jp-CodeCell")
        expect(cells.first).to_be_visible()
        expect(cells).to_have_count(n_code)
        first_prompt = cells.first.locator(".jp-InputPrompt")
        for attempt in range(6):  # "Run All Cells" before the kernel is connected does nothing: try again
            dialog = page.locator(".jp-Dialog")
            if dialog.count(): dialog.get_by_role("button", name=re.compile("^(Select|Ok)$", re.I)).click()
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item:visible").filter(has_text=re.compile(r"^Run All Cells")).first.click()
            try:
                expect(first_prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=8_000)
                break
            except AssertionError: page.keyboard.press("Escape")
        # the last cell gets its number only when every cell above ran (an error stops the run there)
        expect(cells.last.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=240_000)
        shot("ran")
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").filter(
            has_text=re.compile(r"Traceback|Error"))
        assert errors.count() == 0, errors.first.inner_text()[:2000]
        unrun = [i for i in range(n_code) if not re.search(r"\[\d+\]", cells.nth(i).locator(".jp-InputPrompt").inner_text())]
        assert not unrun, f"code cells not run: {unrun}"
        pictures = page.locator(".jp-OutputArea .jp-RenderedImage img")
        assert pictures.count() >= 2
        assert page.locator(f".jp-OutputArea {IMAGE}").count() >= 1, "no live preview widget"
        for i in (0, pictures.count() - 1):
            pictures.nth(i).scroll_into_view_if_needed()
            assert pictures.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
            shot(f"picture-{i}")
        out = page.locator(".jp-NotebookPanel").inner_text()
        assert "backup" in out.lower() or "task1_" in out, "no upload backup named in the outputs"
