"The docs build (tools/build_docs.py) fails on a page without its pictures; the coverage check finds gaps."
import base64, io, json, subprocess, sys, uuid
from pathlib import Path
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"tools"))
import build_docs, check_docs

def _png() -> str:
    b = io.BytesIO(); Image.new("RGB", (8, 6), (200, 30, 30)).save(b, "PNG")
    return base64.b64encode(b.getvalue()).decode()

def _nb(cells:list) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}

def _code(src, outputs=()): return {"cell_type": "code", "id": uuid.uuid4().hex[:8], "metadata": {},
                                    "execution_count": None, "source": src, "outputs": list(outputs)}
def _md(src): return {"cell_type": "markdown", "id": uuid.uuid4().hex[:8], "metadata": {}, "source": src}
def _pic(mime="image/png", data=None):
    return {"output_type": "display_data", "metadata": {}, "data": {mime: _png() if data is None else data,
                                                                     "text/plain": "<Figure>"}}

@pytest.mark.parametrize("src,expected", [
    ("fig = show_grid(r, width=320)", True),
    ("ax = show(r, 'a.jpg')", True),
    ("Image.fromarray(pic)", True),
    ("plt.plot([1, 2])", True),
    ("pic = r.render('a.jpg')\ntest_eq(pic.shape, (3, 4, 3))", False),
    ("Image.fromarray(pic);", False),
    ("Image.open(path)", True),
    ("open(path)", False),
    ("#| eval: false\nfig = show_grid(r)", False),
    ("#| export\ndef show(r): plt.subplots()", False),
    ("#| hide\nshow_grid(r)", False),
    ("def pixels(m, ax=None):\n    if ax is None: _, ax = plt.subplots()\n    ax.imshow(m)", False),
    ("def pixels(m): plt.imshow(m)\npixels(x)", False),  # the helper's picture shows where it is called with one
    ("@patch\ndef f(x): pass\nfig, ax = plt.subplots()", True),
])
def test_picture_cell(src, expected): assert build_docs.picture_cell(src) == expected

def test_committed_outputs():
    ok = _nb([_code("fig = show_grid(r)", [_pic()]), _code("x = 1")])
    assert build_docs.check_committed(ok) == []
    bad = _nb([_code("x = 1"), _code("fig = show_grid(r)")])
    probs = build_docs.check_committed(bad)
    assert len(probs) == 1 and probs[0].startswith("cell 1 ('fig = show_grid(r)') draws a picture")

def test_image_sources(tmp_path):
    (tmp_path/"a.png").write_bytes(base64.b64decode(_png()))
    check = lambda src: build_docs.check_image_src(src, tmp_path)
    assert check(f"data:image/png;base64,{_png()}") is None
    assert check("a.png") is None
    assert "empty src" in check("")
    assert "empty data URI" in check("data:image/png;base64,")
    assert "not a valid image" in check("data:image/png;base64,aGVsbG8=")
    assert "does not exist" in check("images/missing.png")

def _build(tmp_path, nbs:dict) -> tuple:
    "Build the notebooks `{stem: notebook}` into `tmp_path`; returns the run and `{stem: page path}`."
    d = ROOT/"tests"/"artifacts"; d.mkdir(parents=True, exist_ok=True)  # inside the repository, ignored by git
    tag = uuid.uuid4().hex[:6]
    pages = {k: d/f"{k}_{tag}.ipynb" for k in nbs}
    for k, nb in nbs.items(): pages[k].write_text(json.dumps(nb))
    try:
        r = subprocess.run([sys.executable, str(ROOT/"tools"/"build_docs.py"), *map(str, pages.values()),
                            "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    finally:
        for f in pages.values(): f.unlink()
    return r, {k: f.relative_to(ROOT) for k, f in pages.items()}

BROKEN = {
    "no_output": ([_code("fig = show_grid(r)")], "draws a picture but its committed output has none"),
    "empty_uri": ([_code("Image.fromarray(x)", [_pic(data="")])], "empty data URI"),
    "bad_uri": ([_code("Image.fromarray(x)", [_pic(data="bm90IGFuIGltYWdl")])], "not a valid image"),
    "missing_file": ([_md("![a chart](no_such_chart.png)")], "image no_such_chart.png does not exist"),
    "no_build": ([_code("#| export\nimport no_such_module_xyz")], "does not build"),
}

def test_build(tmp_path):
    good = _nb([_md("# A page\n> What it shows"), _code("fig = show_grid(r)", [_pic()])])
    r, rel = _build(tmp_path, {"good": good})
    assert r.returncode == 0, r.stdout + r.stderr
    html = (tmp_path/rel["good"].with_suffix(".html")).read_text()
    assert "<h1>A page</h1>" in html and html.count("<img") == 1 and 'class="cvat-nb-nav"' in html
    assert (tmp_path/"pages.html").exists()
    broken = {k: _nb([_md("# Broken\n> It must fail"), *c]) for k, (c, _) in BROKEN.items()}
    r, rel = _build(tmp_path, {"good": good} | broken)
    assert r.returncode == 1
    assert f"FAIL {rel['good']}" not in r.stderr
    for k, (_, why) in BROKEN.items(): assert f"FAIL {rel[k]}: " in r.stderr and why in r.stderr, (k, r.stderr)

def test_sidebar_lists_every_page():
    yml = build_docs.sidebar_yml()
    for p in build_docs.pages(): assert f"- {p}" in yml

def test_check_docs_finds_gaps():
    nb = _nb([_code("#| default_exp errors"), _code("#| export\ndef where(): 'Join.'"), _code("where()")])
    d = ROOT/"tests"/"artifacts"; d.mkdir(parents=True, exist_ok=True)
    f = d/f"check_docs_{uuid.uuid4().hex[:6]}.ipynb"; f.write_text(json.dumps(nb))
    try: gaps = check_docs.gaps("errors", f)
    finally: f.unlink()
    assert not any(g.startswith("errors.where:") for g in gaps)
    assert any(g.startswith("errors.CvatNbError: missing doc entry") for g in gaps)
    assert any(g.startswith("errors.CodecError: missing") and "example" in g for g in gaps)

def test_enforced_modules_have_no_gaps():
    nbs = check_docs.notebooks()
    assert {m: check_docs.gaps(m, nbs[m]) for m in check_docs.ENFORCED} == {m: [] for m in check_docs.ENFORCED}
