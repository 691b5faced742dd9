"""Write README.md from index.ipynb without Quarto.

    python tools/make_readme.py [--check]

Two steps, because nbconvert's cell removal runs before execution: execute index.ipynb into a temporary notebook
(from the repository root, as nbdev-test runs it), then convert that to Markdown with the `#| hide` cells removed and
nbdev's `#|` directives stripped. The pictures the notebook draws are written as files to `docs/images/`
(`readme_<cell>_<output>.png`, committed), so the README on GitHub shows them; files there that the README no longer
uses are removed. With --check, exit 1 if README.md or a picture is not what index.ipynb gives.
"""
import re, sys, tempfile
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import ExecutePreprocessor, RegexRemovePreprocessor

ROOT = Path(__file__).resolve().parent.parent
HEADER = "<!-- Generated from index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"
IMAGES = "docs/images"  # relative to the root, as the README links them

def render() -> tuple:
    "README.md's text, and its pictures as {path relative to the root: bytes}."
    nb = nbformat.read(ROOT/"index.ipynb", as_version=4)
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(ROOT)}})
    nb.cells = [c for c in nb.cells if not re.match(r"\s*#\|\s*hide", c.source)]
    for c in nb.cells:
        if c.cell_type == "code": c.source = re.sub(r"^#\|.*\n?", "", c.source, flags=re.M)
    md, res = MarkdownExporter().from_notebook_node(nb, resources={"output_files_dir": IMAGES, "unique_key": "readme"})
    md = re.sub(r"\n{3,}", "\n\n", md).strip() + "\n"
    md = re.sub(r"!\[(?:png|jpeg|svg)\]\(", "![picture drawn by the code above](", md)
    images = {k: v for k, v in res.get("outputs", {}).items() if f"]({k})" in md}  # a picture has png and jpeg
    return HEADER + md, images

def _stale(images:dict) -> list:
    "Pictures in docs/images/ that the README no longer shows."
    return [p for p in (ROOT/IMAGES).glob("readme_*") if str(p.relative_to(ROOT)) not in images]

def _write(path:Path, data:bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as f: f.write(data)
    Path(f.name).chmod(0o644)
    Path(f.name).replace(path)

def main():
    text, images = render()
    readme = ROOT/"README.md"
    if "--check" in sys.argv:
        bad = [] if readme.exists() and readme.read_text() == text else ["README.md"]
        bad += [k for k, v in images.items() if not (ROOT/k).exists() or (ROOT/k).read_bytes() != v]
        bad += [str(p.relative_to(ROOT)) for p in _stale(images)]
        if bad:
            print(f"{', '.join(bad)}: not what index.ipynb gives: run python tools/make_readme.py", file=sys.stderr)
            sys.exit(1)
        return
    for k, v in images.items():
        if not (ROOT/k).exists() or (ROOT/k).read_bytes() != v: _write(ROOT/k, v)
    for p in _stale(images): p.unlink()
    if not readme.exists() or readme.read_text() != text: _write(readme, text.encode())
    print(f"wrote {readme.relative_to(ROOT)} and {len(images)} picture(s) in {IMAGES}/")

if __name__ == "__main__": main()
