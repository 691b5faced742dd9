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
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token="flows-$(python -c 'import secrets; print(secrets.token_hex(12))')"
password="pw-$(python -c 'import secrets; print(secrets.token_hex(12))')"
cvat-nb standin --port "$port" --user flows --password "$password" --token "$token" >/dev/null 2>&1 &
standin=$!
trap 'kill "$standin" 2>/dev/null || true' EXIT
python - "$port" <<'PY'
import socket, sys, time
end = time.monotonic() + 30
while time.monotonic() < end:
    try: socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close(); sys.exit(0)
    except OSError: time.sleep(0.2)
sys.exit("the stand-in did not start")
PY
env -u CVAT_ORG CVAT_ACCESS_TOKEN="$token" CVAT_USERNAME=flows CVAT_PASSWORD="$password" \
    python -m pytest tests/flows --cvat-url "http://127.0.0.1:$port" -p no:cacheprovider
