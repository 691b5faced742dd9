"""Build the documentation site into `_docs/` with Python-only tools, and fail on a page that is broken.

    python tools/build_docs.py [--out DIR] [--jobs N] [--strict-links] [PAGE.ipynb ...]

Why this pipeline: Quarto, which `nbdev-docs` renders with, cannot be installed here (see TOOLCHAIN.md), so CI
could never run `nbdev-docs`. The pages are built in two steps:

1. nbdev's own processing, the one `nbdev-proc-nbs` and `nbdev-docs` run (`nbdev.processors.FilterDefaults`):
   it turns the H1 and `>` line into front matter, inserts and renders a `show_doc` entry for every exported function
   and class, runs the cells show_doc needs (exports and imports, as nbdev-docs does), drops `#| hide` cells and
   export markers. A notebook that breaks nbdev-docs' processing breaks here too, with the same message.
2. nbconvert's HTML exporter on the processed notebook, with the Quarto cell options nbconvert does not know applied
   by hand (`echo: false` hides the code, `output: false` the output, `include: false` the cell), the front matter
   shown as the page's title and lead, links to notebooks pointed at their pages, and a navigation bar on every page.

The committed outputs are what the pages show (nothing is re-executed beyond step 1), so the check is on them. A page
fails (the script prints `FAIL <page>: <why>` and exits 1 after building the rest) when:

- nbdev's processing or nbconvert raises;
- a picture cell has no picture in its committed output. A picture cell is a visible, evaluated code cell that calls
  a matplotlib figure maker (`show`, `show_grid`, `stats_figure`, `plt.*`, `subplots`, `imshow`) or ends with an
  expression that displays an image (`Image.fromarray(...)`, `Image.open(...)`, `Previewer(...)`, `Compare(...)`);
- an `<img>` on the page has an empty `src`, a `data:` URI that does not decode to an image, or a local file that
  does not exist (local images referenced from a notebook are copied next to its page).

Links between pages that point nowhere are listed as warnings (errors with `--strict-links`).

Users with Quarto can still run `nbdev-docs`: the standard `_quarto.yml`, `nbdev.yml` and `styles.css` sit at the
repository root (nbs_path is "."), and `--sidebar` writes `sidebar.yml` with the same pages as this site. nbdev only
keeps that file with `custom_sidebar = true` in `[tool.nbdev]`; with false it lists every file of the repository.
"""
import argparse, ast, warnings, base64, html, io, json, os, re, shutil, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
MPL_CALLS = {"show", "show_grid", "stats_figure", "subplots", "figure", "imshow"}
DISPLAY_CALLS = {"Image.fromarray", "Image.open", "Previewer", "Compare"}  # as the last expression: a picture
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/svg+xml")
CSS = "body{max-width:1180px;margin:0 auto} .jp-RenderedMarkdown pre{background:#f5f5f7;padding:8px 10px}"

def pages() -> list:
    "Every notebook of the site, relative to the root: index.ipynb, then nbs/ (tutorials included), sorted."
    nbs = sorted(p.relative_to(ROOT) for p in (ROOT/"nbs").rglob("*.ipynb")
                 if not any(q.startswith((".", "_")) for q in p.relative_to(ROOT).parts))
    return [Path("index.ipynb"), *nbs]

def sidebar_yml() -> str:
    "Quarto's sidebar for nbdev-docs: the home page, the API notebooks, the tutorials (the order of `pages`)."
    ps = [str(p) for p in pages()]
    api = [p for p in ps if p.startswith("nbs/") and not p.startswith("nbs/tutorials/")]
    tut = [p for p in ps if p.startswith("nbs/tutorials/")]
    lines = ["# Written by tools/build_docs.py --sidebar (run by tools/test.sh): edit the notebooks, not this file.",
             "website:", "  sidebar:", "    contents:", "      - index.ipynb"]
    for name, group in (("API", api), ("Tutorials", tut)):
        if group: lines += [f"      - section: {name}", "        contents:", *[f"          - {p}" for p in group]]
    return "\n".join(lines) + "\n"

def _dirs(src:str) -> dict:
    "A cell's `#|` directives, name -> value."
    out = {}
    for line in src.splitlines():
        if not line.strip(): continue
        if not line.lstrip().startswith("#|"): break
        w = line.lstrip()[2:].split(None, 1)
        if w: out[w[0].rstrip(":")] = w[1].strip() if len(w) > 1 else ""
    return out

def _call_name(node) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")

def _dotted(node) -> str:
    "`Image.open` for a call of `Image.open(...)`, `Previewer` for `Previewer(...)`."
    f = node.func
    return f"{getattr(f.value, 'id', '')}.{f.attr}" if isinstance(f, ast.Attribute) else getattr(f, "id", "")

def _walk_run(node):
    "The nodes that run when a cell runs: not the bodies of the functions, lambdas and classes it defines."
    for n in ast.iter_child_nodes(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from (d for d in getattr(n, "decorator_list", []))
            continue
        yield n
        yield from _walk_run(n)

def picture_cell(src:str) -> bool:
    "Does this cell draw a picture when run (a matplotlib figure, or an image as its displayed value)?"
    d = _dirs(src)
    if d.keys() & {"export", "exports", "exporti", "hide"} or d.get("eval", "").lower() == "false": return False
    try: tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
    except SyntaxError: return False
    calls = [n for n in _walk_run(tree) if isinstance(n, ast.Call)]
    plt = lambda c: isinstance(c.func, ast.Attribute) and getattr(c.func.value, "id", "") == "plt"
    if any(_call_name(c) in MPL_CALLS or plt(c) for c in calls): return True
    last = tree.body[-1] if tree.body else None
    return isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and _dotted(last.value) in DISPLAY_CALLS \
        and not src.rstrip().endswith(";")

def _has_picture(outputs:list) -> bool:
    for o in outputs:
        data = o.get("data", {})
        if any(m in data for m in IMAGE_MIMES) or "<img" in "".join(data.get("text/html", "")): return True
    return False

def check_committed(nb:dict) -> list:
    "Problems with the committed outputs: picture cells without a picture."
    probs = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code": continue
        src = "".join(c["source"])
        if picture_cell(src) and not _has_picture(c.get("outputs", [])):
            first = next((l for l in src.splitlines() if l.strip() and not l.startswith("#|")), "")[:60]
            probs.append(f"cell {i} ({first!r}) draws a picture but its committed output has none: "
                         "run the notebook and commit its outputs")
    return probs

_ATTR_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]*)\)\{([^}]*)\}")  # Pandoc's [text](url){attrs}, as show_doc writes

def _pandoc_links(md:str) -> str: return _ATTR_LINK.sub(lambda m: f"[{m[1]}]({m[2]})", md)  # nbconvert: no attrs

def _apply_quarto_options(nb):
    "What Quarto would do with the cell options nbdev leaves in place, done on the notebook for nbconvert."
    cells = []
    for c in nb.cells:
        if c.cell_type == "markdown": c.source = _pandoc_links(c.source)
        for o in c.get("outputs", []):
            data = o.get("data", {})
            if "text/markdown" in data: data["text/markdown"] = _pandoc_links(data["text/markdown"])
        if c.cell_type == "raw" and c.source.lstrip().startswith("---"): continue  # front matter, shown as a title
        if c.cell_type == "code":
            d = _dirs(c.source)
            if d.get("include", "").lower() == "false": continue
            if d.get("output", "").lower() == "false": c.outputs = []
            c.source = "\n".join(l for l in c.source.splitlines() if not l.lstrip().startswith("#|")).strip("\n")
            if d.get("echo", "").lower() == "false": c.metadata.setdefault("transient", {})["remove_source"] = True
            for o in c.get("outputs", []):  # a static page cannot run widgets: show their static picture
                data = o.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data and len(data) > 1:
                    del data["application/vnd.jupyter.widget-view+json"]
            if not c.source and not c.get("outputs"): continue
        cells.append(c)
    nb.cells = cells
    nb.metadata.pop("widgets", None)

def _front_matter(nb) -> dict:
    import yaml
    for c in nb.cells:
        if c.cell_type == "raw" and c.source.lstrip().startswith("---"):
            try: return yaml.safe_load(c.source.strip().strip("-")) or {}
            except yaml.YAMLError: return {}
    return {}

def out_name(rel:Path, fm:dict) -> Path:
    "Where a page goes in the site: its `output-file` (nbdev names module pages after the module), else its name."
    return rel.parent/(fm.get("output-file") or rel.with_suffix(".html").name)

def build_page(rel:Path) -> dict:
    "Process and convert one notebook; returns its html, title, output path, problems and images."
    import nbformat
    from nbdev.processors import FilterDefaults
    from fastcore.nbio import read_nb, nb2dict
    from nbconvert import HTMLExporter
    os.chdir(ROOT)  # nbdev-docs runs from the project root too
    os.environ["IN_TEST"] = "1"
    res, main_mod = {"rel": rel, "problems": [], "html": None}, sys.modules["__main__"]
    try:
        raw = json.loads((ROOT/rel).read_text())
        res["problems"] += check_committed(raw)
        nb = read_nb(ROOT/rel)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            FilterDefaults()(nb)  # nbdev-docs' processing, in place
        d = nb2dict(nb)  # back to a plain notebook, without the attributes nbdev's processors add to cells
        keep = {"cell_type", "source", "metadata", "outputs", "execution_count", "attachments", "id"}
        d["cells"] = [{k: v for k, v in c.items() if k in keep} for c in d["cells"]]
        for c in d["cells"]: c.get("metadata", {}).pop("execution", None)  # execnb's timings: not nbformat
        nb = nbformat.reads(json.dumps(d), as_version=4)  # fastcore's AttrDicts back to notebook nodes
        fm = _front_matter(nb)
        _apply_quarto_options(nb)
        exporter = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True,
                                embed_images=True)  # markdown images as data URIs: the page carries its pictures
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str((ROOT/rel).parent)}})
        res.update(html=body, title=str(fm.get("title") or rel.stem), description=str(fm.get("description") or ""),
                   out=out_name(rel, fm))
    except Exception as e:  # any failure is the page's: report it with the page's name and go on
        msg = str(e).strip().splitlines() or [""]
        hint = " (nbdev-docs runs every cell that has an import, as here: put imports in a cell of their own)" \
            if "in cell" in msg[0] else ""
        what = f"{msg[0][:200]} {msg[1][:80]!r}... {msg[-1][:300]}{hint}" if len(msg) > 1 else msg[0][:500]
        res["problems"].append(f"does not build: {type(e).__name__}: {what}")
    finally: sys.modules["__main__"] = main_mod  # IPython's shell (show_doc runs in one) replaces it
    return res

_IMG = re.compile(r"<img\b[^>]*>", re.I)
_SRC = re.compile(r"""\bsrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)

def check_image_src(src:str, page_dir:Path) -> str|None:
    "Why an `<img>` source is broken, or None."
    from PIL import Image
    src = html.unescape(src).strip()
    if not src: return "an <img> has an empty src"
    if src.startswith("data:"):
        head, _, data = src.partition(",")
        if not data.strip(): return f"an <img> has an empty data URI ({head[:40]})"
        if "svg" in head:
            text = unquote(data) if ";base64" not in head else base64.b64decode(data).decode("utf8", "replace")
            return None if "<svg" in text[:2000] else "an <img> has an SVG data URI with no <svg>"
        try:
            im = Image.open(io.BytesIO(base64.b64decode(data, validate=True))); im.verify()
            if im.size[0] < 2 or im.size[1] < 2: return f"an <img> is {im.size[0]}×{im.size[1]} pixels"
        except Exception as e: return f"an <img> data URI is not a valid image ({type(e).__name__}: {e})"[:200]
        return None
    if re.match(r"^[a-z]+://", src): return None  # remote: cannot check offline
    p = (page_dir/unquote(src.split("#")[0].split("?")[0])).resolve()
    if not p.exists(): return f"image {src} does not exist"
    try: Image.open(p).verify()
    except Exception as e:
        if p.suffix.lower() != ".svg": return f"image {src} is not a valid image ({type(e).__name__})"
    return None

def _nav(pages:list, here:Path) -> str:
    "The navigation bar: every page, relative to `here`."
    groups = {"": [], "API": [], "Tutorials": []}
    for p in pages:
        g = "" if p["out"].parent == Path(".") else "Tutorials" if "tutorials" in p["out"].parts else "API"
        groups[g].append(p)
    rel = lambda p: os.path.relpath(p["out"], here.parent)
    parts = []
    for g, ps in groups.items():
        if not ps: continue
        links = " · ".join(f'<a href="{html.escape(rel(p))}">{html.escape(p["title"])}</a>' for p in ps)
        parts.append(f"<div><b>{g}</b> {links}</div>" if g else f"<div>{links} · "
                     f'<a href="{html.escape(os.path.relpath("pages.html", here.parent))}">All pages</a></div>')
    return ('<nav class="cvat-nb-nav" style="font:14px sans-serif;padding:8px 16px;border-bottom:1px solid #ddd;'
            'background:#f7f7f9;line-height:1.7">' + "".join(parts) + "</nav>")

def _header(p:dict) -> str:
    lead = f'<p style="font-size:1.15em;color:#555">{html.escape(p["description"])}</p>' if p["description"] else ""
    return f'<header style="padding:0 16px"><h1>{html.escape(p["title"])}</h1>{lead}</header>'

def _link_fix(text:str, page:dict, by_src:dict) -> tuple:
    "Point links to notebooks at their pages; returns the text and the local link targets."
    targets = []
    def sub(m):
        href = html.unescape(m.group(2))
        if re.match(r"^([a-z]+:|#|//)", href): return m.group(0)
        path, _, frag = href.partition("#")
        src = os.path.normpath(page["rel"].parent/unquote(path)) if path else None
        if src and src.endswith(".ipynb") and src in by_src:
            href = os.path.relpath(by_src[src], page["out"].parent) + (f"#{frag}" if frag else "")
        elif path: targets.append((href, os.path.normpath(page["out"].parent/unquote(path))))
        return f'{m.group(1)}"{html.escape(href)}"'
    return re.sub(r'(\bhref=)"([^"]*)"', sub, text), targets

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pages", nargs="*", help="only these notebooks, written over an existing site")
    ap.add_argument("--out", default=str(ROOT/"_docs"))
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--strict-links", action="store_true", help="a link to a missing page fails the build")
    ap.add_argument("--sidebar", action="store_true", help="only write sidebar.yml (the page list, for nbdev-docs)")
    a = ap.parse_args(argv)
    if a.sidebar:
        f = ROOT/"sidebar.yml"
        if not f.exists() or f.read_text() != sidebar_yml(): f.write_text(sidebar_yml())
        return 0
    t0, site = time.time(), Path(a.out).resolve()
    todo = [Path(p).resolve().relative_to(ROOT) for p in a.pages] or pages()
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs) as ex: built = list(ex.map(build_page, todo))
    else: built = [build_page(p) for p in todo]
    if not a.pages: shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True, exist_ok=True)
    ok = [b for b in built if b["html"] is not None]
    by_src = {str(b["rel"]): str(b["out"]) for b in ok}
    failed, link_warnings = {}, []
    for b in built:
        if b["problems"]: failed[str(b["rel"])] = list(b["problems"])
    for b in ok:
        dest = site/b["out"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        text, targets = _link_fix(b["html"], b, by_src)
        for tag in _IMG.findall(text):
            m = _SRC.search(tag)
            src = html.unescape(next((g for g in m.groups() if g is not None), "") if m else "").strip()
            path = unquote(src.split("#")[0].split("?")[0])
            if path and not src.startswith("data:") and not re.match(r"^[a-z]+://", src):  # a local image: copy it
                orig = (ROOT/b["rel"]).parent/path
                if orig.is_file():
                    (dest.parent/path).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(orig, dest.parent/path)
            why = check_image_src(src, dest.parent)
            if why: failed.setdefault(str(b["rel"]), []).append(why)
        for href, t in targets:
            if not (site/t).exists() and not (ROOT/t).exists():
                link_warnings.append(f"{b['rel']}: link {href} points to nothing")
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + _nav(ok, b["out"]) + _header(b), text, count=1)
        text = text.replace("</head>", f"<style>{CSS}</style></head>", 1)
        title = f"<title>{html.escape(b['title'])} – cvat_nb</title>"
        text = re.sub(r"<title>.*?</title>", lambda _: title, text, count=1, flags=re.S)
        dest.write_text(text)
    items = "".join(f'<li><a href="{html.escape(str(b["out"]))}">{html.escape(b["title"])}</a> – '
                    f'{html.escape(b["description"])} <small>({html.escape(str(b["rel"]))})</small></li>' for b in ok)
    (site/"pages.html").write_text("<!doctype html><html><head><meta charset='utf-8'><title>All pages – cvat_nb"
                                   "</title></head><body style='font:15px sans-serif;margin:2em'><h1>cvat_nb: all "
                                   f"pages</h1><ul>{items}</ul></body></html>")
    for w in link_warnings: print(f"warning: {w}")
    for b in built:
        n = len(_IMG.findall(b["html"] or ""))
        print(f"{'FAIL' if str(b['rel']) in failed else 'ok  '} {b['rel']} -> {b.get('out', '-')} ({n} image(s))")
    for page, probs in failed.items():
        for p in probs: print(f"FAIL {page}: {p}", file=sys.stderr)
    print(f"{len(ok)} page(s) written to {os.path.relpath(site)}/ in {time.time() - t0:.1f} s; "
          f"{len(failed)} failing, {len(link_warnings)} link warning(s)")
    return 1 if failed or (a.strict_links and link_warnings) else 0

if __name__ == "__main__": sys.exit(main())
