"""Write README.md from index.ipynb without Quarto.

    python tools/make_readme.py [--check]

Two steps, because nbconvert's cell removal runs before execution: execute index.ipynb into a temporary notebook
(from the repository root, as nbdev-test runs it), then convert that to Markdown with the `#| hide` cells removed and
nbdev's `#|` directives stripped. With --check, exit 1 if README.md is not what index.ipynb gives.
"""
import re, sys, tempfile
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter
from nbconvert.preprocessors import ExecutePreprocessor, RegexRemovePreprocessor

ROOT = Path(__file__).resolve().parent.parent
HEADER = "<!-- Generated from index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"

def render() -> str:
    nb = nbformat.read(ROOT/"index.ipynb", as_version=4)
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(ROOT)}})
    nb.cells = [c for c in nb.cells if not re.match(r"\s*#\|\s*hide", c.source)]
    for c in nb.cells:
        if c.cell_type == "code": c.source = re.sub(r"^#\|.*\n?", "", c.source, flags=re.M)
    md, _ = MarkdownExporter().from_notebook_node(nb)
    md = re.sub(r"\n{3,}", "\n\n", md).strip() + "\n"
    return HEADER + md

def main():
    text = render()
    readme = ROOT/"README.md"
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            print("README.md is not what index.ipynb gives: run python tools/make_readme.py", file=sys.stderr)
            sys.exit(1)
        return
    with tempfile.NamedTemporaryFile("w", dir=ROOT, delete=False, suffix=".md") as f: f.write(text)
    Path(f.name).replace(readme)
    print(f"wrote {readme.relative_to(ROOT)}")

if __name__ == "__main__": main()
