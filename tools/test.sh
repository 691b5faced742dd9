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

echo "== CVAT flows (tests/flows) against a stand-in in its own process, reached only by URL, as a real CVAT is"
token="flows-$(python -c 'import secrets; print(secrets.token_hex(12))')"
password="pw-$(python -c 'import secrets; print(secrets.token_hex(12))')"
log=$(mktemp)
cvat-nb standin --port 0 --user flows --password "$password" --token "$token" >"$log" 2>&1 &
standin=$!
trap 'kill "$standin" 2>/dev/null || true; rm -f "$log"' EXIT
url=""
for _ in $(seq 150); do  # it prints its URL once it listens (port 0: a free one, no race for it)
  url=$(sed -n 's/^stand-in CVAT [^ ]* at \(http[^ ]*\)$/\1/p' "$log")
  [ -n "$url" ] && break
  if ! kill -0 "$standin" 2>/dev/null; then echo "the stand-in did not start:" >&2; cat "$log" >&2; exit 1; fi
  sleep 0.2
done
[ -n "$url" ] || { echo "the stand-in printed no URL within 30 s:" >&2; cat "$log" >&2; exit 1; }
env -u CVAT_ORG CVAT_ACCESS_TOKEN="$token" CVAT_USERNAME=flows CVAT_PASSWORD="$password" \
    python -m pytest tests/flows --cvat-url "$url" -p no:cacheprovider
