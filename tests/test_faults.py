"""Faults, against a started stand-in CVAT driven through `cvat_nb.cvat` (which uses the REAL cvat-sdk): 401, 403, 404,
409 (an import already running), bursts of 5xx, slow answers past the timeout, dropped connections (also in the middle
of a TUS upload), failed imports. The client retries only what is safe (reads; TUS chunks from the server's offset),
otherwise says clearly what happened; the task's previous annotations stay and the backup exists.

Outcomes are asserted (annotations, files, `rule["hits"]`, messages), never timings; timeouts and backoffs are small."""
from __future__ import annotations
import inspect, json, logging, threading, time
from pathlib import Path

import pytest

pytest.importorskip("cvat_sdk")
from cvat_nb.coco import Dataset
from cvat_nb.cvat_xml import read_cvat_xml
from cvat_nb.errors import CvatNbError
from cvat_nb.standin import StandIn
import cvat_nb.cvat as m
from cvat_nb.cvat import connect, ImportRunning, retry_policy

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples/coco/instances_default.json"
USER, PASSWORD, TOKEN = "django", "Pw-s3cret-9", "pat-s3cret-123"
LABELS = [{"name": "car", "type": "polygon"}, {"name": "person", "type": "mask"}, {"name": "sign", "type": "any"}]
FRAMES = [dict(name=f"street_0{i}.jpg", width=480, height=320) for i in range(1, 5)]
TASK = r"^/api/tasks/\d+/?$"
IMPORT = r"^/api/tasks/\d+/annotations/?$"  # Upload-Start, TUS create and Upload-Finish all POST here
CHUNK = r"^/api/tasks/\d+/annotations/\d+_[0-9a-f-]+$"  # TUS PATCH and HEAD


@pytest.fixture
def server():
    with StandIn(users={USER: PASSWORD}, tokens={TOKEN: USER}) as s:
        yield s


def fast(server, **kw):
    "A client with small timeouts and no backoff waits, so faults cost little time."
    return connect(server.url, **{"token": TOKEN, "poll": 0.02, "timeout": 2.0, "retries": 2, "backoff": 0, **kw})


@pytest.fixture
def cv(server):
    with fast(server) as c:
        yield c


@pytest.fixture
def tid(server):
    "A task holding one rectangle: the 'previous annotations' every failed import must leave in place."
    t = server.add_task("street", LABELS)
    server.add_frames(t, FRAMES)
    server.set_shapes(t, [dict(type="rectangle", frame=0, label_id=server.tasks[t]["labels"][0]["id"], group=0,
                               source="manual", occluded=False, outside=False, z_order=0, rotation=0.0,
                               points=[1.0, 1.0, 5.0, 5.0], attributes=[], elements=[])])
    return t


def sample() -> Dataset:
    return Dataset(json.loads(SAMPLE.read_text()))


def shapes(server, tid):
    return server.annotations(tid)["shapes"]


def one_clear_line(e, *secrets):
    "The error is one line, hides its cause (no chained traceback) and holds no secret."
    msg = str(e.value)
    assert "\n" not in msg and e.value.__suppress_context__
    for s in (TOKEN, PASSWORD, *secrets): assert s not in msg
    return msg


def backups(path, tid):
    return sorted(path.glob(f"task{tid}_backup_*.json"))


def backed_up(bk):
    "The shapes a backup holds (CVAT's own annotations JSON)."
    return json.loads(bk.read_text())["annotations"]["shapes"]


def manifests_paths(path, tid):
    return sorted(path.glob(f"task{tid}_upload_*.json"))


def manifests(path, tid):
    return [json.loads(p.read_text()) for p in manifests_paths(path, tid)]


def assert_intact(server, tid, before, tmp_path):
    "Previous annotations still on the server; the backup holds them."
    assert shapes(server, tid) == before
    (bk,) = backups(tmp_path, tid)
    assert backed_up(bk) == before and len(before) == 1


def until(cond, limit=20.0):
    "Wait for a condition set by another thread (a guard against hanging, not a timing assertion)."
    end = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < end, "condition never became true"
        time.sleep(0.01)


def spy_tus(cv):
    "Record (method, Upload-Offset) of the TUS requests cvat-sdk sends through this client."
    rc, seen = cv.client.api_client.rest_client, []
    real = rc.request
    def request(method, url, *a, **kw):
        if method in ("PATCH", "HEAD"): seen.append((method, (kw.get("headers") or {}).get("Upload-Offset")))
        return real(method, url, *a, **kw)
    rc.request = request
    return seen


# ---------------------------------------------------------------------------------------------------------------
# reads: retried on 5xx, 429, drops and timeouts, then one clear error naming the server

def test_burst_of_5xx_on_a_read_is_ridden_out(cv, server, tid):
    rule = server.faults.add("GET", TASK, status=503, times=2)
    assert cv.find_task(tid).id == tid
    assert rule["hits"] == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_that_persists_is_one_error_after_retries(cv, server, tid, status):
    rule = server.faults.add("GET", TASK, status=status, times=10)
    with pytest.raises(CvatNbError) as e: cv.find_task(tid)
    msg = one_clear_line(e)
    assert rule["hits"] == 3  # the first try and cv.retries == 2 retries
    assert f"CVAT at {server.url}" in msg and f"HTTP {status}" in msg and f"reading task {tid}" in msg
    assert "retried 2 times" in msg


def test_retry_after_is_honoured_and_capped(cv, server, tid):
    from urllib3 import HTTPResponse
    rule = server.faults.add("GET", TASK, status=429, times=1, headers={"Retry-After": "0"})
    assert cv.find_task(tid).id == tid and rule["hits"] == 1
    r = retry_policy()
    assert r.get_retry_after(HTTPResponse(status=503, headers={"Retry-After": "2"})) == 2
    assert r.get_retry_after(HTTPResponse(status=503, headers={"Retry-After": "86400"})) == 30.0


def test_dropped_connection_on_a_read_is_retried(cv, server, tid):
    rule = server.faults.add("GET", TASK, drop=True, times=2)
    assert cv.find_task(tid).id == tid and rule["hits"] == 2


def test_slow_read_is_retried_then_a_timeout_naming_the_server(server, tid):
    rule = server.faults.add("GET", TASK, status=None, delay=1.0, times=3)
    with fast(server, timeout=0.3) as c:
        with pytest.raises(CvatNbError) as e: c.find_task(tid)
    msg = one_clear_line(e)
    assert rule["hits"] == 3
    assert f"CVAT at {server.url}: no answer within 0.3 s while reading task {tid}" in msg


def test_5xx_burst_while_polling_the_import_request(cv, server, tid, tmp_path):
    rule = server.faults.add("GET", r"^/api/requests/", status=502, times=2)
    man = cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    assert man["status"] == "imported" and rule["hits"] == 2
    assert len(shapes(server, tid)) == len(sample().annotations)


def test_unreachable_server_at_connect(server):
    port = server.port
    server.stop()
    refused = rf"cannot reach CVAT at http://127.0.0.1:{port} \(the connection was refused\)"
    with pytest.raises(CvatNbError, match=refused) as e:
        connect(f"http://127.0.0.1:{port}", token=TOKEN, retries=1, backoff=0)
    one_clear_line(e)


def test_slow_server_at_connect(server):
    rule = server.faults.add("GET", r"^/api/users/self", status=None, delay=1.0, times=2)
    with pytest.raises(CvatNbError, match=r"cannot reach CVAT at .*no answer within 0.3 s") as e:
        fast(server, timeout=0.3, retries=1)
    one_clear_line(e)
    assert rule["hits"] == 2


# ---------------------------------------------------------------------------------------------------------------
# what changes something is never repeated blindly

def test_create_task_is_not_retried_on_5xx(cv, server, tmp_path):
    rule = server.faults.add("POST", r"^/api/tasks/?$", status=503, times=5)
    with pytest.raises(CvatNbError) as e: cv.create_task("fresh", sample(), REPO / "samples/images", out_dir=tmp_path,
                                                         progress=False)
    msg = one_clear_line(e)
    assert rule["hits"] == 1 and server.tasks == {}
    assert "HTTP 503" in msg and "creating task 'fresh'" in msg and "never repeats" in msg and "look for it" in msg
    assert not list(tmp_path.glob("*.json"))


def test_import_start_is_not_retried_on_5xx(cv, server, tid, tmp_path):
    before = shapes(server, tid)
    rule = server.faults.add("POST", IMPORT, status=503, times=5)
    with pytest.raises(CvatNbError) as e: cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    msg = one_clear_line(e)
    assert rule["hits"] == 1
    assert "HTTP 503" in msg and f"importing into task {tid}" in msg and "never repeats" in msg
    assert "look at the task before sending it again" in msg
    assert_intact(server, tid, before, tmp_path)
    (man,) = manifests(tmp_path, tid)
    assert man["status"] == "failed" and "HTTP 503" in man["error"] and man["backup"] == str(backups(tmp_path, tid)[0])


def test_slow_import_start_times_out_and_is_not_repeated(server, tid, tmp_path):
    before = shapes(server, tid)
    rule = server.faults.add("POST", IMPORT, status=None, delay=1.0, times=5)
    with fast(server, timeout=0.3) as c:
        with pytest.raises(CvatNbError) as e: c.upload(sample(), tid, out_dir=tmp_path, progress=False)
    msg = one_clear_line(e)
    assert rule["hits"] == 1
    assert f"CVAT at {server.url}: no answer within 0.3 s while importing into task {tid}" in msg
    assert_intact(server, tid, before, tmp_path)
    assert [x["status"] for x in manifests(tmp_path, tid)] == ["unknown"]  # no answer: it may have run


def test_import_request_whose_answer_is_lost_is_not_sent_again(cv, server, tid, tmp_path):
    before = shapes(server, tid)
    server.faults.add("POST", IMPORT, status=None, times=2)  # Upload-Start and the TUS create go through
    rule = server.faults.add("POST", IMPORT, drop_after=0, times=1)  # Upload-Finish: the import runs, no answer
    n = len(sample().annotations)
    with pytest.raises(CvatNbError) as e: cv.upload(sample(), tid, mode="append", out_dir=tmp_path, progress=False)
    msg = one_clear_line(e)
    assert rule["hits"] == 1 and "connection was dropped" in msg and "look at the task before sending it again" in msg
    assert sum(x["method"] == "POST" and "/annotations" in x["path"] for x in server.exchanges) == 3
    assert len(shapes(server, tid)) == len(before) + n  # appended once, not twice
    (man,) = manifests(tmp_path, tid)
    assert man["status"] == "unknown" and man["backup"] is None


def test_backup_that_fails_imports_nothing(cv, server, tid, tmp_path):
    before = shapes(server, tid)
    rule = server.faults.add("GET", r"^/api/tasks/\d+/annotations", status=503, times=10)
    with pytest.raises(CvatNbError) as e: cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    msg = one_clear_line(e)
    assert rule["hits"] == cv.retries + 1 and "backing up task" in msg and "nothing was imported" in msg  # a read: retried
    assert shapes(server, tid) == before
    assert not any(x["method"] == "POST" and "/annotations" in x["path"] for x in server.exchanges)
    assert not list(tmp_path.glob("*.json"))


# ---------------------------------------------------------------------------------------------------------------
# TUS: a dropped chunk is resumed from the server's offset (cvat-sdk's own resume, through cvat_nb's client)

def test_dropped_tus_chunk_is_resumed(cv, server, tid, tmp_path, caplog):
    seen = spy_tus(cv)
    rule = server.faults.add("PATCH", CHUNK, drop=True, times=1)
    with caplog.at_level(logging.DEBUG):
        man = cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    assert man["status"] == "imported" and rule["hits"] == 1
    assert len(shapes(server, tid)) == len(sample().annotations)
    assert seen == [("PATCH", "0"), ("HEAD", None), ("PATCH", "0")]  # nothing stored: asked, then sent from 0
    chunk = [r for r in caplog.records if r.getMessage().startswith("Chunk upload failed")]
    assert len(chunk) == 1 and chunk[0].levelname == "WARNING" and "dropped" in chunk[0].getMessage()
    assert "Traceback" not in caplog.text and TOKEN not in caplog.text


def test_tus_chunk_dropped_half_way_resumes_from_the_offset(cv, server, tid, tmp_path):
    seen = spy_tus(cv)
    rule = server.faults.add("PATCH", CHUNK, drop_after=100, times=1)
    man = cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    assert man["status"] == "imported" and rule["hits"] == 1
    assert len(shapes(server, tid)) == len(sample().annotations)
    assert seen == [("PATCH", "0"), ("HEAD", None), ("PATCH", "100")]  # the first 100 bytes are not sent again


def test_5xx_on_a_tus_chunk_is_resumed(cv, server, tid, tmp_path):
    rule = server.faults.add("PATCH", CHUNK, status=503, times=1)
    man = cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    assert man["status"] == "imported" and rule["hits"] == 1


def test_tus_upload_that_keeps_failing_is_one_error(cv, server, tid, tmp_path):
    before = shapes(server, tid)
    rule = server.faults.add("PATCH", CHUNK, drop=True, times=10)
    with pytest.raises(CvatNbError) as e: cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    msg = one_clear_line(e)
    assert rule["hits"] == 3 and "upload kept failing" in msg and "nothing was imported" in msg
    assert_intact(server, tid, before, tmp_path)
    assert [x["status"] for x in manifests(tmp_path, tid)] == ["failed"]


# ---------------------------------------------------------------------------------------------------------------
# 401, 403, 404

@pytest.mark.parametrize("auth", [dict(token="bad-" + TOKEN), dict(username=USER, password=PASSWORD + "x")])
def test_401_at_connect(server, auth):
    with pytest.raises(CvatNbError, match=r"refused .*HTTP (400|401)") as e: connect(server.url, **auth)
    one_clear_line(e, *(v for v in auth.values() if v != USER))


def test_401_in_the_middle_of_a_session(cv, server, tid):
    rule = server.faults.add("GET", TASK, status=401, times=5)
    with pytest.raises(CvatNbError) as e: cv.find_task(tid)
    msg = one_clear_line(e)
    assert rule["hits"] == 1  # not retried
    assert f"no longer accepts the credentials of '{USER}'" in msg and "connect again" in msg


def test_403_on_read_and_on_import(cv, server, tid, tmp_path):
    rule = server.faults.add("GET", TASK, status=403, times=1)
    with pytest.raises(CvatNbError) as e: cv.find_task(tid)
    assert rule["hits"] == 1 and f"user '{USER}' may not do this" in one_clear_line(e)
    before = shapes(server, tid)
    rule = server.faults.add("POST", IMPORT, status=403, times=5)
    with pytest.raises(CvatNbError) as e: cv.upload(sample(), tid, out_dir=tmp_path, progress=False)
    msg = one_clear_line(e)
    assert rule["hits"] == 1 and "HTTP 403" in msg and "ask the task's owner" in msg
    assert_intact(server, tid, before, tmp_path)


def test_404_unknown_task(cv, server, tid, tmp_path):
    for call in (lambda: cv.find_task(999), lambda: cv.upload(sample(), 999, out_dir=tmp_path, progress=False),
                 lambda: cv.download(999, tmp_path, progress=False)):
        with pytest.raises(CvatNbError) as e: call()
        assert one_clear_line(e).startswith(f"no task 999 on {server.url} (HTTP 404")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------------
# 409: an import already running on the task

def run_in_thread(fn):
    "Start `fn` in a thread; returns (thread, box) where box gets 'result' or 'error'."
    box = {}
    def go():
        try: box["result"] = fn()
        except Exception as e: box["error"] = e
    th = threading.Thread(target=go, daemon=True)
    th.start()
    return th, box


def held(server):
    return [r for r in server.requests.values() if r.get("pending")]


def test_409_import_already_running(cv, server, tid, tmp_path):
    first = sample().subset(["street_01.jpg"])
    server.hold_imports = True
    th, box = run_in_thread(lambda: cv.upload(first, tid, out_dir=tmp_path / "a", progress=False))
    until(lambda: held(server))
    (running,) = held(server)
    with fast(server) as other:
        with pytest.raises(ImportRunning) as e: other.upload(sample(), tid, out_dir=tmp_path / "b", progress=False)
    msg = one_clear_line(e)
    assert e.value.rq_id == running["id"] and f"request '{running['id']}'" in msg
    assert f"an import into task {tid} is already running" in msg and "was not started" in msg
    assert sum(x["status"] == 409 for x in server.exchanges) == 1  # refused once, not sent again
    assert len(held(server)) == 1 and running["status"] == "queued"
    assert not list((tmp_path / "b").glob("*_upload_*.json"))  # ours never started: no manifest
    server.release_imports()
    th.join(20)
    assert box["result"]["status"] == "imported"
    assert len(shapes(server, tid)) == len(first.annotations)


def test_409_wait_for_the_running_import_then_import_once(cv, server, tid, tmp_path):
    first = sample().subset(["street_01.jpg"])
    server.hold_imports = True
    th_a, box_a = run_in_thread(lambda: cv.upload(first, tid, out_dir=tmp_path / "a", progress=False))
    until(lambda: held(server))
    (running,) = held(server)
    with fast(server) as other:
        second = lambda: other.upload(sample(), tid, out_dir=tmp_path / "b", wait=20, progress=False)
        th_b, box_b = run_in_thread(second)
        until(lambda: any(x["status"] == 409 for x in server.exchanges))
        server.release_imports()
        th_b.join(20); th_a.join(20)
    assert box_a["result"]["status"] == "imported", box_a
    man = box_b["result"]
    assert man["status"] == "imported" and man["waited_for"] == running["id"]
    assert sum(x["status"] == 409 for x in server.exchanges) == 1
    assert len(shapes(server, tid)) == len(sample().annotations)
    (bk,) = backups(tmp_path / "b", tid)  # taken again after the wait: it holds what the first import wrote
    assert len(backed_up(bk)) == len(first.annotations)


# ---------------------------------------------------------------------------------------------------------------
# a failed import request

def test_failed_import_message_hint_annotations_backup_manifest(cv, server, tid, tmp_path, monkeypatch):
    monkeypatch.setattr(m, "preflight", lambda *a, **k: m.Report([]))  # let a bad file through to the server
    before = shapes(server, tid)
    ds = sample().rename({"street_01.jpg": "Street_01.jpg"})
    with pytest.raises(CvatNbError) as e: cv.upload(ds, tid, out_dir=tmp_path, progress=False)
    msg = one_clear_line(e)
    assert f"CVAT's import into task {tid} failed" in msg
    assert "Could not match item id: 'Street_01'" in msg and "fix: run fix_for_task" in msg
    assert_intact(server, tid, before, tmp_path)
    (man,) = manifests(tmp_path, tid)
    assert man["status"] == "failed" and man["backup"] == str(backups(tmp_path, tid)[0])
    assert msg == f"{man['error']}; manifest: {manifests_paths(tmp_path, tid)[0]}, backup: {man['backup']}"
    assert TOKEN not in json.dumps(man) and PASSWORD not in json.dumps(man)


def test_import_request_that_fails_on_the_server(cv, server, tid, tmp_path):
    before = shapes(server, tid)
    server.hold_imports = True
    th, box = run_in_thread(lambda: cv.upload(sample(), tid, out_dir=tmp_path, progress=False))
    until(lambda: held(server))
    (running,) = held(server)
    server.release_imports(status="failed")
    th.join(20)
    err, said = box["error"], " ".join(running["message"].split())
    assert running["status"] == "failed" and said
    assert isinstance(err, CvatNbError) and f"failed: {said} (" in str(err)  # the server's message, then
    assert "the pre-flight found no error in this file" in str(err)  # what was checked; no hint that points nowhere
    assert "run preflight" not in str(err)
    assert_intact(server, tid, before, tmp_path)
    assert [x["status"] for x in manifests(tmp_path, tid)] == ["failed"]


# ---------------------------------------------------------------------------------------------------------------
# progress bar, password prompt, secrets in logs

def test_upload_progress_bar(cv, server, tid, tmp_path, capsys):
    cv.upload(sample(), tid, out_dir=tmp_path, backup=False)
    assert "Uploading data" in capsys.readouterr().err
    cv.upload(sample(), tid, out_dir=tmp_path, backup=False, progress=False)
    assert "Uploading" not in capsys.readouterr().err


@pytest.fixture
def no_env(monkeypatch):
    for k in ("CVAT_URL", "CVAT_ACCESS_TOKEN", "CVAT_USERNAME", "CVAT_PASSWORD", "CVAT_ORG"):
        monkeypatch.delenv(k, raising=False)


def test_password_prompt_when_interactive(server, monkeypatch, no_env):
    import getpass
    asked = []
    monkeypatch.setattr(m, "_interactive", lambda: True)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or PASSWORD)
    monkeypatch.setenv("CVAT_USERNAME", USER)
    with connect(server.url) as c: assert c.user == USER and PASSWORD not in repr(c)
    assert asked == [f"CVAT password for '{USER}' at {server.url}: "]


def test_no_prompt_when_not_interactive(server, monkeypatch, no_env):
    import getpass
    monkeypatch.setattr(getpass, "getpass", lambda prompt: pytest.fail("must not prompt"))
    assert m._interactive() is False  # pytest's stdin is not a terminal
    with pytest.raises(CvatNbError, match=r"no password for user 'django': set CVAT_PASSWORD .*CVAT_ACCESS_TOKEN"):
        connect(server.url, username=USER)
    monkeypatch.setattr(m, "_interactive", lambda: True)
    with pytest.raises(CvatNbError, match="not interactive"): connect(server.url, username=USER, prompt=False)


def test_secrets_stay_out_of_logs_with_password_login(server, tid, tmp_path, caplog):
    server.faults.add("PATCH", CHUNK, drop=True, times=1)
    server.faults.add("GET", TASK, status=503, times=1)
    with caplog.at_level(logging.DEBUG):
        with fast(server, token=None, username=USER, password=PASSWORD) as c:
            c.upload(sample(), tid, out_dir=tmp_path, progress=False)
            assert PASSWORD not in repr(c) and PASSWORD not in repr(vars(c))
    assert caplog.records and PASSWORD not in caplog.text and "Traceback" not in caplog.text
    for p in tmp_path.iterdir(): assert PASSWORD.encode() not in p.read_bytes()
