"""Check that every exported name is documented and has an example in its notebook.

    python tools/check_docs.py            # list every gap; exit 1 on a gap in any module (what tools/test.sh runs)
    python tools/check_docs.py --list     # list every gap, exit 0 (while closing gaps)
    python tools/check_docs.py MODULE...  # only these modules (e.g. render coco)

Every module is enforced, new ones included (a module is found by its `cvat_nb/X.py`, so a notebook split into several
modules is covered as soon as it is exported). `--strict` is still accepted; it is the default.

For each module `cvat_nb/X.py` the notebook that exports it is found by its `#| default_exp X` line. Every name in
the module's `__all__` (nbdev writes it from the notebook's `#| export` cells) must have:

- docs: a docstring (functions and classes), and a documentation entry on its page: nbdev renders `show_doc` for
  each function and class defined in an `#| export` / `#| exports` cell (not `#| exporti`), or the notebook calls
  `show_doc(name)`. Constants need a mention in the notebook's prose instead (markdown, or a `#|` comment-free line);
- an example: the name appears in a code cell a reader sees and nbdev-test runs, that is, a cell that is not
  exported, not `#| hide`, not `#| eval: false`. A method counts through its class: `Dataset.load(...)` is an
  example of `Dataset`.

A name the module imports from another module and lists in `__all__` (a re-export) is checked in the module that
defines it.

A gap is printed as `module.name: what is missing (notebook)`.
"""
import ast, importlib, inspect, json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def directives(src:str) -> dict:
    "A cell's leading `#|` directives, name -> value (or ''): `#| export`, `#| eval: false`, `#| default_exp x`."
    out = {}
    for line in src.splitlines():
        if not line.strip(): continue
        if not line.lstrip().startswith("#|"): break
        words = line.lstrip()[2:].split(None, 1)
        if words: out[words[0].rstrip(":")] = words[1].strip() if len(words) > 1 else ""
    return out

def notebooks() -> dict:
    "Module name -> notebook path, from each notebook's `#| default_exp`."
    out = {}
    for nb in sorted([*ROOT.glob("nbs/**/*.ipynb"), ROOT/"index.ipynb"]):
        if any(p.startswith((".", "_")) for p in nb.relative_to(ROOT).parts): continue
        for c in json.loads(nb.read_text())["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] == "code" and "default_exp" in directives(src):
                out[directives(src)["default_exp"].split()[0]] = nb
                break
    return out

def _words(text:str) -> set: return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))

def _defined(src:str) -> set:
    "Names a cell defines at top level (functions, classes, assignments)."
    try: tree = ast.parse(src)
    except SyntaxError: return set()
    names = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): names.add(n.name)
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                names |= {x.id for x in ast.walk(t) if isinstance(x, ast.Name)}
    return names

def gaps(module:str, nb:Path) -> list:
    "The documentation gaps of `cvat_nb.<module>`, one line each."
    mod = importlib.import_module(f"cvat_nb.{module}")
    cells = json.loads(nb.read_text())["cells"]
    documented, examples, prose = set(), set(), set()
    for c in cells:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown":
            prose |= _words(src)
            continue
        if c["cell_type"] != "code": continue
        d = directives(src)
        code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith("#|"))
        if d.keys() & {"export", "exports"}: documented |= _defined(code)
        if d.keys() & {"export", "exports", "exporti", "hide"} or d.get("eval", "").lower() == "false": continue
        documented |= set(re.findall(r"show_doc\(\s*([A-Za-z_][\w.]*)", code))
        examples |= _words(re.sub(r"#.*", "", code))
    out, rel = [], nb.relative_to(ROOT)
    own = _defined((ROOT/"cvat_nb"/f"{module}.py").read_text())
    for name in getattr(mod, "__all__", []):
        if name not in own: continue  # re-exported from another module: checked there
        obj = getattr(mod, name, None)
        missing = []
        if inspect.isclass(obj) or callable(obj):
            if not (inspect.getdoc(obj) or "").strip(): missing.append("docstring")
            if name not in documented: missing.append("doc entry (define it in an `#| export` cell, or call show_doc)")
        elif name not in prose and name not in examples: missing.append("mention in the prose")
        if name not in examples: missing.append("example (a visible code cell that runs it)")
        if missing: out.append(f"{module}.{name}: missing {'; '.join(missing)} ({rel})")
    return out

def modules() -> list:
    "Every module of the package: `cvat_nb/X.py` but the private ones (`_modidx`, ...)."
    return sorted(p.stem for p in (ROOT/"cvat_nb").glob("*.py") if not p.stem.startswith("_"))

# Modules whose gaps fail the check: all of them (kept as a name for callers such as tests/test_docs.py).
ENFORCED = set(modules())

def main(argv:list) -> int:
    enforce = "--list" not in argv
    only = [a for a in argv if not a.startswith("-")]
    nbs = notebooks()
    mods = modules()
    failing, total = [], 0
    for m in only or mods:
        if m not in nbs:
            print(f"{m}: no notebook has `#| default_exp {m}`", file=sys.stderr); failing.append(m); continue
        g = gaps(m, nbs[m])
        total += len(g)
        for line in g: print(line)
        if g: failing.append(m)
    mode = "every module enforced" if enforce else "--list: not enforced"
    print(f"{total} gap(s); failing modules: {', '.join(failing) or 'none'} ({mode})",
          file=sys.stderr if failing and enforce else sys.stdout)
    return 1 if failing and enforce else 0

if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
