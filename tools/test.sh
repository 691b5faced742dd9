#!/usr/bin/env bash
# Every check, in the order CI runs them. Run from anywhere inside the repository, with the dev install active.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

state() { git status --porcelain --untracked-files=all -- . ':!tests/artifacts'; git diff -- . | md5sum; }

echo "== notebooks and library in sync"
before=$(state)
nbdev-clean >/dev/null
nbdev-export
python tools/make_readme.py >/dev/null
python tools/build_docs.py --sidebar
after=$(state)
if [ "$before" != "$after" ]; then
  echo "notebooks and library are not in sync: nbdev-clean / nbdev-export / tools/make_readme.py /" \
       "tools/build_docs.py --sidebar changed:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  exit 1
fi

echo "== docs build"
python tools/build_docs.py

echo "== docs coverage"
python tools/check_docs.py

echo "== nbdev-test"
nbdev-test --n-workers 2

echo "== pytest tests/"
python -m pytest tests/
