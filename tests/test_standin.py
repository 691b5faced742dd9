"""`cvat_nb.standin` driven by the REAL cvat-sdk client: create, import (TUS), export, errors, auth, and a contract
test that checks every JSON response the stand-in sent against CVAT 2.73.0's OpenAPI schema."""
from __future__ import annotations
import base64, copy, http.client, io, json, os, re, threading, urllib.error, urllib.request, zipfile
from pathlib import Path

import numpy as np
import pytest

cvat_sdk = pytest.importorskip("cvat_sdk")
from cvat_sdk import make_client, models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
from cvat_sdk.core.exceptions import BackgroundRequestException

from cvat_nb import codecs
from cvat_nb.skeleton import Skeleton
from cvat_nb.standin import StandIn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = Path(__file__).resolve().parents[1]
IMAGES = sorted((REPO / "samples/images").glob("*.jpg"))
SAMPLE = REPO / "samples/coco/instances_default.json"
USER, PASSWORD = "django", "A1b2c345"
LABELS = [{"name": "car", "type": "polygon"}, {"name": "person", "type": "mask"}, {"name": "sign", "type": "any"}]
MSG_PREFIX = "cvat.apps.dataset_manager.bindings.CvatImportError: "


@pytest.fixture
def server():
    with StandIn(users={USER: PASSWORD}, tokens={"pat-1": USER, "legacy-1": USER}) as s:
        yield s


def connect(server, **auth):
    client = make_client("http://127.0.0.1", port=server.port, **(auth or {"credentials": (USER, PASSWORD)}))
    client.config.status_check_period = 0.05
    return client


@pytest.fixture
def client(server):
    with connect(server) as c:
        yield c


def new_task(client, images=IMAGES, sorting="predefined", labels=LABELS, name="street"):
    return client.tasks.create_from_data(spec={"name": name, "labels": labels}, resources=[str(p) for p in images],
                                         data_params={"image_quality": 70, "sorting_method": sorting})


@pytest.fixture
def task(client):
    return new_task(client)


def sample():
    return json.loads(SAMPLE.read_text())


def write(tmp_path, coco, name="ann.json"):
    p = tmp_path / name
    p.write_text(json.dumps(coco))
    return p


def shapes(server, task):
    return server.annotations(task.id)["shapes"]


def raw(server, method, path, body=None, headers=None, auth=True):
    "Status, headers and body of a plain HTTP request (Basic auth unless `auth` is False)."
    h = dict(headers or {})
    if auth: h.setdefault("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    req = urllib.request.Request(server.url + path, data=body, method=method, headers=h)
    try:
        with urllib.request.urlopen(req) as r: return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e: return e.code, e.headers, e.read()


# ---------------------------------------------------------------------------------------------------------------
# Tasks and data

def test_server_version_and_formats(client):
    assert str(client.get_server_version()) == "2.73.0"
    fmts = client.api_client.server_api.retrieve_annotation_formats()[0]
    names = {f.name for f in fmts.importers}
    assert {"COCO 1.0", "COCO Keypoints 1.0"} <= names
    # as on a real server, CVAT's XML exports as "CVAT for images 1.1" and is not an importer under that name
    assert "CVAT for images 1.1" in {f.name for f in fmts.exporters} and "CVAT for images 1.1" not in names


def test_create_task_frames_labels_jobs(client, server):
    order = [IMAGES[2], IMAGES[0], IMAGES[3], IMAGES[1]]
    t = new_task(client, images=order)
    assert [f.name for f in t.get_frames_info()] == [p.name for p in order]  # predefined keeps the given order
    meta = t.get_meta()
    assert meta.size == 4 and meta.image_quality == 70
    assert all((f.width, f.height) == (480, 320) for f in meta.frames)
    assert [l.name for l in t.get_labels()] == ["car", "person", "sign"]
    assert len(t.get_jobs()) == 1 and t.size == 4
    t2 = new_task(client, images=order, sorting="lexicographical", name="lex")
    assert [f.name for f in t2.get_frames_info()] == sorted(p.name for p in IMAGES)
    assert [x.id for x in client.tasks.list()] == [t2.id, t.id]
    assert [x.id for x in client.tasks.list(name="lex")] == [t2.id]
    assert raw(server, "GET", "/api/tasks?search=LE")[2] and \
        [r["id"] for r in json.loads(raw(server, "GET", "/api/tasks?search=LE")[2])["results"]] == [t2.id]
    page = json.loads(raw(server, "GET", "/api/tasks?page_size=1")[2])
    assert page["count"] == 2 and len(page["results"]) == 1 and "page=2" in page["next"]


def test_natural_sorting_and_basenames(client, tmp_path):
    paths = []
    for n in ["img10.jpg", "img2.jpg", "sub/img1.jpg"]:
        p = tmp_path / n
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(IMAGES[0].read_bytes())
        paths.append(p)
    t = new_task(client, images=paths, sorting="natural")
    assert [f.name for f in t.get_frames_info()] == ["img1.jpg", "img2.jpg", "img10.jpg"]


def test_skeleton_sublabels_nested(client):
    labels = [{"name": "person", "type": "skeleton", "svg": "",
               "sublabels": [{"name": "nose", "type": "points"}, {"name": "eye", "type": "points"}]}]
    t = new_task(client, labels=labels)
    got = t.get_labels()
    assert [l.name for l in got] == ["person"]
    assert [s.name for s in got[0].sublabels] == ["nose", "eye"]


def test_second_data_upload_refused(server, task):
    s, _, body = raw(server, "POST", f"/api/tasks/{task.id}/data", headers={"Upload-Start": ""})
    assert s == 400 and json.loads(body) == ["Adding more data is not supported"]


# ---------------------------------------------------------------------------------------------------------------
# Import and export

def test_import_sample_then_export(server, task, tmp_path):
    task.import_annotations("COCO 1.0", SAMPLE)
    got = shapes(server, task)
    coco = sample()
    kinds = ["mask" if isinstance(a["segmentation"], dict) else "polygon" if a["segmentation"] else "rectangle"
             for a in coco["annotations"]]
    assert sorted(s["type"] for s in got) == sorted(kinds)
    frames = [f.name for f in task.get_frames_info()]
    assert {s["frame"] for s in got} == {frames.index(im["file_name"]) for im in coco["images"]}

    out = task.export_dataset("COCO 1.0", tmp_path / "out.zip", include_images=False)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["annotations/instances_default.json"]
        exp = json.loads(zf.read("annotations/instances_default.json"))
    assert [c["name"] for c in exp["categories"]] == ["car", "person", "sign"]
    assert [c["id"] for c in exp["categories"]] == [1, 2, 3]
    masks = [a for a in exp["annotations"] if isinstance(a["segmentation"], dict)]
    assert masks and all(a["iscrowd"] == 1 and isinstance(a["segmentation"]["counts"], list) for a in masks)
    # every mask comes back pixel for pixel
    src = {(a["image_id"], a["category_id"]): a for a in coco["annotations"] if isinstance(a["segmentation"], dict)}
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    exp_names = {im["id"]: im["file_name"] for im in exp["images"]}
    for a in masks:
        b = next(b for (iid, _), b in src.items() if names[iid] == exp_names[a["image_id"]])
        assert np.array_equal(codecs.decode_rle(a["segmentation"]), codecs.decode_rle(b["segmentation"]))
    polys = sorted(a["segmentation"][0] for a in exp["annotations"] if isinstance(a["segmentation"], list)
                   and a["segmentation"])
    assert polys == sorted(p for a in coco["annotations"] if isinstance(a["segmentation"], list)
                           for p in a["segmentation"])
    boxes = sorted(a["bbox"] for a in exp["annotations"] if a["segmentation"] == [])
    assert boxes == sorted(a["bbox"] for a in coco["annotations"] if a["segmentation"] == [])


def test_bbox_only_when_segmentation_empty(server, task, tmp_path):
    coco = sample()
    coco["annotations"] = [
        {"id": 1, "image_id": 1, "category_id": 3, "iscrowd": 0, "segmentation": [], "bbox": [10, 20, 30, 40]},
        {"id": 2, "image_id": 1, "category_id": 3, "iscrowd": 0, "bbox": [1, 2, 3, 4],
         "segmentation": [[1, 2, 4, 2, 4, 6]]},
        {"id": 3, "image_id": 2, "category_id": 3, "iscrowd": 1, "segmentation": [[]], "bbox": [0, 0, 5, 5]}]
    task.import_annotations("COCO 1.0", write(tmp_path, coco))
    got = sorted((s["type"], s["points"]) for s in shapes(server, task))
    assert got == [("polygon", [1.0, 2.0, 4.0, 2.0, 4.0, 6.0]), ("rectangle", [0.0, 0.0, 5.0, 5.0]),
                   ("rectangle", [10.0, 20.0, 40.0, 60.0])]
    out = task.export_dataset("COCO 1.0", tmp_path / "out.zip", include_images=False)
    with zipfile.ZipFile(out) as zf: exp = json.loads(zf.read("annotations/instances_default.json"))
    rects = [a for a in exp["annotations"] if a["segmentation"] == []]
    assert len(rects) == 2 and rects[0]["attributes"] == {"occluded": False, "rotation": 0.0}


def test_replace_is_default_and_append_adds(server, task):
    n = len(sample()["annotations"])
    task.import_annotations("COCO 1.0", SAMPLE)
    task.import_annotations("COCO 1.0", SAMPLE)
    assert len(shapes(server, task)) == n
    task.import_annotations("COCO 1.0", SAMPLE, import_mode="append")
    assert len(shapes(server, task)) == 2 * n
    task.import_annotations("COCO 1.0", SAMPLE, import_mode="replace")
    assert len(shapes(server, task)) == n


def test_bad_import_mode(server, task):
    s, _, body = raw(server, "POST", f"/api/tasks/{task.id}/annotations/?format=COCO+1.0&import_mode=merge",
                     headers={"Upload-Start": ""})
    assert s == 400 and json.loads(body) == ["Invalid import_mode='merge'. Allowed: replace, append"]
    with pytest.raises(cvat_sdk.exceptions.ApiException):
        task.import_annotations("COCO 1.0", SAMPLE, import_mode="merge")


@pytest.mark.parametrize("file_name,item", [("Street_01.jpg", "Street_01"), ("train/street_01.jpg", "train/street_01"),
                                            ("images/default/street_01.jpg", "images/default/street_01")])
def test_unmatched_image_fails_whole_import_and_keeps_annotations(server, task, tmp_path, file_name, item):
    task.import_annotations("COCO 1.0", SAMPLE)
    before = shapes(server, task)
    coco = sample()
    coco["images"][0]["file_name"] = file_name
    with pytest.raises(BackgroundRequestException) as e:
        task.import_annotations("COCO 1.0", write(tmp_path, coco))
    assert str(e.value) == f"{MSG_PREFIX}Could not match item id: '{item}' with any task frame\n"
    assert shapes(server, task) == before


def test_extension_ignored_and_unannotated_images_fine(server, task, tmp_path):
    coco = sample()
    for im in coco["images"]: im["file_name"] = im["file_name"].replace(".jpg", ".png")
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] == 1]
    task.import_annotations("COCO 1.0", write(tmp_path, coco))
    assert len(shapes(server, task)) == len(coco["annotations"])


def test_numeric_stem_is_frame_number(server, task, tmp_path):
    coco = sample()
    coco["images"] = [{"id": 1, "file_name": "2.jpg", "width": 480, "height": 320}]
    coco["annotations"] = [dict(coco["annotations"][0], image_id=1)]
    task.import_annotations("COCO 1.0", write(tmp_path, coco))
    assert [s["frame"] for s in shapes(server, task)] == [2]


def test_unknown_label_and_category_zero(server, task, tmp_path):
    task.import_annotations("COCO 1.0", SAMPLE)
    before = shapes(server, task)
    coco = sample()
    first = coco["annotations"][0]
    coco["categories"][first["category_id"] - 1]["name"] = "horse"
    with pytest.raises(BackgroundRequestException) as e:
        task.import_annotations("COCO 1.0", write(tmp_path, coco))
    assert str(e.value) == (f"{MSG_PREFIX}Image street_01: can't import annotation #0 (polygon): "
                            "Label 'horse' is not registered for this task\n")
    coco = sample()
    coco["annotations"][0]["category_id"] = 0
    with pytest.raises(BackgroundRequestException) as e:
        task.import_annotations("COCO 1.0", write(tmp_path, coco))
    assert str(e.value) == f"{MSG_PREFIX}Image street_01: can't import annotation #0 (polygon): annotation has no label\n"
    assert shapes(server, task) == before


def test_unknown_image_id_dropped_silently(server, task, tmp_path):
    coco = sample()
    coco["annotations"][0]["image_id"] = 999
    task.import_annotations("COCO 1.0", write(tmp_path, coco))  # succeeds
    assert len(shapes(server, task)) == len(coco["annotations"]) - 1


def test_missing_licenses_fails(server, task, tmp_path):
    coco = sample()
    del coco["licenses"]
    with pytest.raises(BackgroundRequestException, match="Cannot find the licenses section"):
        task.import_annotations("COCO 1.0", write(tmp_path, coco))
    assert shapes(server, task) == []


def test_zip_upload_and_compressed_rle(server, task, tmp_path):
    coco = sample()
    for a in coco["annotations"]:
        if isinstance(a["segmentation"], dict): a["segmentation"] = codecs.compress_rle(a["segmentation"])
    zpath = tmp_path / "ann.zip"
    with zipfile.ZipFile(zpath, "w") as zf: zf.writestr("annotations/instances_default.json", json.dumps(coco))
    task.import_annotations("COCO 1.0", zpath)
    assert sum(s["type"] == "mask" for s in shapes(server, task)) == \
        sum(isinstance(a["segmentation"], dict) for a in coco["annotations"])


def _subsets(coco, names_by_subset):
    "The COCO dict split into subsets by image file name, ids renumbered from 1 in each (as separate files have them)."
    out = {}
    for sub, names in names_by_subset.items():
        ims = [im for im in coco["images"] if im["file_name"] in names]
        new_id = {im["id"]: i + 1 for i, im in enumerate(ims)}
        anns = [{**a, "id": k + 1, "image_id": new_id[a["image_id"]]}
                for k, a in enumerate(a for a in coco["annotations"] if a["image_id"] in new_id)]
        out[sub] = {**coco, "images": [{**im, "id": new_id[im["id"]]} for im in ims], "annotations": anns}
    return out


def test_zip_with_several_subsets_imports_all(server, client, task, tmp_path):
    "Like CVAT (Datumaro reads every subset), a zip with train and val files imports both; groups stay per object."
    coco = sample()
    two_parts = [[10, 10, 30, 10, 30, 30], [50, 50, 70, 50, 70, 70]]  # one object in two parts: a group per file
    for k, im in enumerate(coco["images"]):
        coco["annotations"].append({"id": 900 + k, "image_id": im["id"], "category_id": coco["categories"][0]["id"],
                                    "iscrowd": 0, "bbox": [10, 10, 60, 60], "area": 400, "segmentation": two_parts})
    names = [im["file_name"] for im in coco["images"]]
    subs = _subsets(coco, {"train": names[:2], "val": names[2:]})
    zpath = tmp_path / "split.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for sub, c in subs.items(): zf.writestr(f"annotations/instances_{sub}.json", json.dumps(c))
    task.import_annotations("COCO 1.0", zpath)
    got = shapes(server, task)
    frames = [f.name for f in task.get_frames_info()]
    per_frame = lambda ss: sorted(frames[s["frame"]] for s in ss)
    one = new_task(client)
    one.import_annotations("COCO 1.0", write(tmp_path, coco))  # the same annotations as one file
    assert per_frame(got) == per_frame(shapes(server, one))
    groups = {}
    for s in got:
        if s["group"]: groups.setdefault(s["group"], set()).add(s["frame"])
    assert len(groups) == len(coco["images"]) and all(len(f) == 1 for f in groups.values())  # one group per image
    assert len({s["group"] for s in shapes(server, one)} - {0}) == len(groups)


def test_zip_with_one_bad_subset_fails_whole_import(server, task, tmp_path):
    task.import_annotations("COCO 1.0", SAMPLE)
    before = shapes(server, task)
    coco = sample()
    names = [im["file_name"] for im in coco["images"]]
    subs = _subsets(coco, {"train": names[:2], "val": names[2:]})
    subs["val"]["images"][0]["file_name"] = "nope.jpg"
    zpath = tmp_path / "split.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for sub, c in subs.items(): zf.writestr(f"annotations/instances_{sub}.json", json.dumps(c))
    with pytest.raises(BackgroundRequestException, match="Could not match item id"):
        task.import_annotations("COCO 1.0", zpath)
    assert shapes(server, task) == before


def test_plain_annotations_view(server, task):
    task.import_annotations("COCO 1.0", SAMPLE)
    s, h, body = raw(server, "GET", f"/api/tasks/{task.id}/annotations")
    data = json.loads(body)
    assert s == 200 and h["Content-Type"] == "application/vnd.cvat+json"
    assert set(data) == {"version", "tags", "shapes", "tracks"} and len(data["shapes"]) == len(sample()["annotations"])


# ---------------------------------------------------------------------------------------------------------------
# TUS, legacy endpoints, requests

def test_tus_protocol(server, task):
    base = f"/api/tasks/{task.id}/annotations/"
    payload = SAMPLE.read_bytes()
    assert raw(server, "POST", base + "?format=COCO+1.0", headers={"Upload-Start": ""})[0] == 202
    s, h, _ = raw(server, "POST", base, headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(payload)),
                                                 "Upload-Metadata": "filename " + base64.b64encode(b"a.json").decode()})
    assert s == 201 and re.fullmatch(r"1_[0-9a-f-]{36}", h["Upload-Filename"])
    loc = h["Location"]
    assert loc == f"{server.url}{base}{h['Upload-Filename']}"
    path = loc[len(server.url):]
    patch = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    assert raw(server, "PATCH", path, payload[:100], {**patch, "Upload-Offset": "0"})[:2][0] == 204
    s, h, _ = raw(server, "PATCH", path, payload[100:], {**patch, "Upload-Offset": "5"})
    assert s == 409
    s, h, _ = raw(server, "HEAD", path, headers={"Tus-Resumable": "1.0.0"})
    assert s == 200 and h["Upload-Offset"] == "100"
    s, h, _ = raw(server, "PATCH", path, payload[100:], {**patch, "Upload-Offset": "100"})
    assert s == 204 and h["Upload-Offset"] == str(len(payload))
    s, _, body = raw(server, "POST", base + "?format=COCO+1.0&filename=instances_default.json",
                     headers={"Upload-Finish": ""})
    assert s == 400 and json.loads(body) == ["No such file were uploaded"]
    fid = path.rsplit("/", 1)[1]
    s, _, body = raw(server, "POST", f"{base}?format=COCO+1.0&filename={fid}", headers={"Upload-Finish": ""})
    rq = json.loads(body)["rq_id"]
    assert s == 202 and rq == f"action=import&target=task&target_id={task.id}&subresource=annotations"
    s, _, body = raw(server, "GET", "/api/requests/" + urllib.request.quote(rq, safe=""))
    r = json.loads(body)
    assert r["status"] == "finished" and r["operation"]["type"] == "import:annotations"
    assert raw(server, "GET", "/api/requests/nope")[0] == 404


def test_unknown_format_and_uninitialised_task(server, client, task):
    s, _, body = raw(server, "POST", f"/api/tasks/{task.id}/annotations/?format=YOLO+9.9", headers={"Upload-Start": ""})
    assert s == 400 and json.loads(body) == ["Unknown input format 'YOLO 9.9'"]
    empty = client.tasks.create(spec={"name": "empty", "labels": LABELS})
    s, _, body = raw(server, "POST", f"/api/tasks/{empty.id}/annotations/?format=COCO+1.0", headers={"Upload-Start": ""})
    assert s == 400 and json.loads(body) == ["This task data has not been initialized yet"]


def test_legacy_endpoints_gone(server, task):
    tid = task.id
    assert raw(server, "PUT", f"/api/tasks/{tid}/annotations?format=COCO%201.0", b"{}")[0] == 410
    assert raw(server, "PUT", f"/api/tasks/{tid}/annotations?rq_id=x", b"{}")[0] == 410
    assert raw(server, "GET", f"/api/tasks/{tid}/annotations?format=COCO%201.0")[0] == 410
    assert raw(server, "GET", f"/api/tasks/{tid}/dataset?format=COCO%201.0")[0] == 410


def test_export_request_and_download(server, task, tmp_path):
    s, _, body = raw(server, "POST", f"/api/tasks/{task.id}/dataset/export?format=COCO%201.0&save_images=false")
    rq = json.loads(body)["rq_id"]
    assert s == 202 and rq == f"action=export&target=task&target_id={task.id}&user_id=1&subresource=annotations&format=COCO_1~0"
    r = json.loads(raw(server, "GET", "/api/requests/" + urllib.request.quote(rq, safe=""))[2])
    assert r["status"] == "finished" and r["result_url"].startswith(f"{server.url}/api/tasks/{task.id}/dataset/download?rq_id=")
    s, h, data = raw(server, "GET", r["result_url"][len(server.url):])
    assert s == 200 and h["Content-Type"] == "application/zip" and "attachment" in h["Content-Disposition"]
    assert raw(server, "GET", f"/api/tasks/{task.id}/dataset/download?rq_id=nope")[0] == 404


# ---------------------------------------------------------------------------------------------------------------
# Authentication

def test_auth(server, task):
    s, _, body = raw(server, "GET", "/api/tasks", auth=False)
    assert s == 401 and json.loads(body) == {"detail": "Authentication credentials were not provided."}
    for h in ({"Authorization": "Token nope"}, {"Authorization": "Bearer nope"}):
        s, _, body = raw(server, "GET", "/api/tasks", headers=h, auth=False)
        assert s == 401 and json.loads(body) == {"detail": "Invalid token."}
    assert raw(server, "GET", "/api/users/self", headers={"Authorization": "Token legacy-1"}, auth=False)[0] == 200
    assert raw(server, "GET", "/api/server/about", auth=False)[0] == 200
    s, _, body = raw(server, "GET", "/api/users/self", headers={"Authorization": "Basic " + base64.b64encode(b"django:bad").decode()}, auth=False)
    assert s == 401


def test_access_token_client(server, task):
    with connect(server, access_token="pat-1") as c:
        assert [t.id for t in c.tasks.list()] == [task.id]
        c.config.status_check_period = 0.05
        c.tasks.retrieve(task.id).import_annotations("COCO 1.0", SAMPLE)
    assert len(shapes(server, task)) == len(sample()["annotations"])
    with pytest.raises(cvat_sdk.exceptions.ApiException) as e:
        connect(server, access_token="nope").tasks.list()
    assert e.value.status == 401


def test_session_login_needs_csrf(server):
    s, h, body = raw(server, "POST", "/api/auth/login", json.dumps({"username": USER, "password": PASSWORD}).encode(),
                     {"Content-Type": "application/json"}, auth=False)
    assert s == 200 and "key" in json.loads(body)
    cookies = dict(c.split(";")[0].split("=", 1) for c in h.get_all("Set-Cookie"))
    assert set(cookies) == {"sessionid", "csrftoken"}
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    spec = json.dumps({"name": "x", "labels": []}).encode()
    js = {"Content-Type": "application/json", "Cookie": cookie}
    assert raw(server, "GET", "/api/tasks", headers={"Cookie": cookie}, auth=False)[0] == 200
    assert raw(server, "POST", "/api/tasks", spec, js, auth=False)[0] == 403
    assert raw(server, "POST", "/api/tasks", spec, {**js, "X-CSRFToken": cookies["csrftoken"]}, auth=False)[0] == 201
    s, _, _ = raw(server, "POST", "/api/auth/login", json.dumps({"username": USER, "password": "x"}).encode(),
                  {"Content-Type": "application/json"}, auth=False)
    assert s == 400


# ---------------------------------------------------------------------------------------------------------------
# Contract: every JSON response validates against CVAT's schema

def _schema_path():
    "CVAT's schema: `$CVAT_SCHEMA`, else the copy of CVAT 2.73's kept in `tests/data/cvat/`."
    env = os.environ.get("CVAT_SCHEMA")
    return Path(env) if env else Path(__file__).resolve().parent / "data/cvat/schema.yml"


def _to_json_schema(node):
    "OpenAPI 3.0 schema → JSON Schema: `nullable` (also beside `allOf`, as CVAT sends null there) admits null."
    if isinstance(node, list): return [_to_json_schema(x) for x in node]
    if not isinstance(node, dict): return node
    out = {k: _to_json_schema(v) for k, v in node.items()
           if k not in ("nullable", "readOnly", "writeOnly", "example", "discriminator", "deprecated", "xml")}
    if node.get("nullable"):
        if "type" in out and isinstance(out["type"], str) and not any(k in out for k in ("allOf", "anyOf", "oneOf", "enum")):
            out["type"] = [out["type"], "null"]
        else: out = {"anyOf": [out, {"type": "null"}]}
    return out


def _operations(spec):
    ops = []
    for tpl, item in spec["paths"].items():
        rx = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tpl.rstrip("/"))) + "/?$")
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op: ops.append((rx, method.upper(), tpl, op))
    return ops


_SPEC = {}


def _spec():
    "CVAT's schema as JSON Schema components plus the operations, loaded once (skips when missing)."
    if not _SPEC:
        path = _schema_path()
        if not path.exists():
            pytest.skip(f"CVAT's OpenAPI schema not found at {path}: set CVAT_SCHEMA to a copy of it, which a running "
                        "CVAT serves at /api/schema/ (or take cvat/schema.yml from github.com/cvat-ai/cvat "
                        "at the release you use)")
        yaml = pytest.importorskip("yaml")
        spec = yaml.safe_load(path.read_text())
        _SPEC.update(components=_to_json_schema(spec["components"]), ops=_operations(spec))
    return _SPEC


def check_contract(server):
    """Validate every JSON response `server` sent against CVAT's schema; the set of (method, template, status) checked.
    Injected 5xx answers and dropped connections are skipped: a proxy's 503 need not look like CVAT's."""
    jsonschema = pytest.importorskip("jsonschema")
    spec = _spec()
    checked, failures = set(), []
    for ex in server.exchanges:
        if ex.get("dropped") or (ex.get("injected") and ex["status"] >= 500): continue
        if ex["content_type"] != "application/vnd.cvat+json" or not ex["body"]: continue
        match = [(tpl, op) for rx, m, tpl, op in spec["ops"] if m == ex["method"] and rx.match(ex["path"])]
        if not match: continue
        tpl, op = max(match, key=lambda x: (-x[0].count("{"), len(x[0])))  # the most specific template
        resp = op["responses"].get(str(ex["status"]))
        schema = ((resp or {}).get("content") or {}).get("application/vnd.cvat+json", {}).get("schema")
        if schema is None:
            assert ex["status"] >= 400 or resp is not None, f"{ex['method']} {ex['path']} {ex['status']} undocumented"
            continue
        root = {**_to_json_schema(schema), "components": spec["components"]}
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in jsonschema.Draft7Validator(root).iter_errors(json.loads(ex["body"]))]
        if errors: failures.append((ex["method"], tpl, ex["status"], errors[:5]))
        checked.add((ex["method"], tpl, ex["status"]))
    assert not failures, failures
    return checked


def test_contract_every_response_matches_schema(server, client, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    components = _spec()["components"]

    # a full flow through the SDK
    client.api_client.server_api.retrieve_annotation_formats()
    client.api_client.users_api.retrieve_self()
    t = new_task(client)
    t.get_labels(); t.get_jobs(); t.get_meta()
    client.tasks.list(); client.tasks.retrieve(t.id)
    t.import_annotations("COCO 1.0", SAMPLE)
    t.export_dataset("COCO 1.0", tmp_path / "out.zip", include_images=False)
    coco = sample(); coco["images"][0]["file_name"] = "nope.jpg"
    with pytest.raises(BackgroundRequestException): t.import_annotations("COCO 1.0", write(tmp_path, coco))
    raw(server, "GET", f"/api/tasks/{t.id}/annotations")
    sign = next(l.id for l in t.get_labels() if l.name == "sign")
    box = dict(type="rectangle", frame=0, label_id=sign, points=[1, 2, 30, 40], score=0.5)
    t.set_annotations(models.LabeledDataRequest(shapes=[box]))  # PUT
    t.update_annotations(models.PatchedLabeledDataRequest(shapes=[box]), action=AnnotationUpdateAction.CREATE)
    with pytest.raises(cvat_sdk.exceptions.ApiException):  # a 400 with the serializer's errors
        t.set_annotations(models.LabeledDataRequest(shapes=[{**box, "points": [1, 2]}]))

    checked = check_contract(server)
    # the validator is not vacuous: a task without its required `jobs`, or with a bad status, is rejected
    task_schema = {"$ref": "#/components/schemas/TaskRead", "components": components}
    good = next(json.loads(e["body"]) for e in server.exchanges if e["method"] == "GET" and e["path"] == f"/api/tasks/{t.id}")
    assert jsonschema.Draft7Validator(task_schema).is_valid(good)
    assert not jsonschema.Draft7Validator(task_schema).is_valid({k: v for k, v in good.items() if k != "jobs"})
    assert not jsonschema.Draft7Validator(task_schema).is_valid({**good, "status": "bogus"})
    assert good["assignee"] is None and good["source_storage"] is None  # allOf + nullable: null accepted
    want = {("GET", "/api/server/about"), ("GET", "/api/server/annotation/formats"), ("GET", "/api/users/self"),
            ("POST", "/api/auth/login"), ("POST", "/api/tasks"), ("GET", "/api/tasks"), ("GET", "/api/tasks/{id}"),
            ("GET", "/api/labels"), ("GET", "/api/jobs"), ("GET", "/api/tasks/{id}/data/meta"),
            ("POST", "/api/tasks/{id}/data/"), ("POST", "/api/tasks/{id}/annotations/"),
            ("GET", "/api/tasks/{id}/annotations/"), ("GET", "/api/requests/{id}"),
            ("POST", "/api/tasks/{id}/dataset/export"), ("PATCH", "/api/tasks/{id}/annotations/")}
    assert want <= {(m, tpl) for m, tpl, _ in checked}, want - {(m, tpl) for m, tpl, _ in checked}


def test_project_tasks_use_project_labels_and_match_schema(server, client, tmp_path):
    "Projects through the SDK: create, list, retrieve; a task in one takes its labels, and COCO imports against them."
    proj = client.projects.create({"name": "streets", "labels": LABELS})
    t = client.tasks.create_from_data(spec={"name": "day 1", "project_id": proj.id}, resources=[str(p) for p in IMAGES],
                                      data_params={"image_quality": 70, "sorting_method": "predefined"})
    assert (t.project_id, [l.name for l in t.get_labels()]) == (proj.id, [l["name"] for l in LABELS])
    assert {l.id for l in t.get_labels()} == {l.id for l in proj.get_labels()}  # the same labels, not copies
    assert [x.id for x in proj.get_tasks()] == [t.id]
    assert [p.name for p in client.projects.list()] == ["streets"] and client.projects.retrieve(proj.id).tasks.count == 1
    t.import_annotations("COCO 1.0", SAMPLE)
    assert len(shapes(server, t)) == len(sample()["annotations"])
    with pytest.raises(cvat_sdk.exceptions.ApiException) as e:
        client.tasks.create({"name": "x", "project_id": proj.id, "labels": LABELS})
    assert e.value.status == 400 and "only one of Label set or project_id" in e.value.body
    checked = {(m, tpl) for m, tpl, _ in check_contract(server)}
    assert {("POST", "/api/projects"), ("GET", "/api/projects"), ("GET", "/api/projects/{id}")} <= checked


# ---------------------------------------------------------------------------------------------------------------
# COCO Keypoints 1.0

BODY = Skeleton("person", ["nose", "neck", "hand_l", "hand_r"], [("nose", "neck"), ("neck", "hand_l"), ("neck", "hand_r")])
KP_LABELS = [BODY.cvat_label(), {"name": "car", "type": "polygon"}]
POSES = {"street_01.jpg": [[[100, 50, 2], [100, 80, 2], [70, 120, 1], [130, 120, 0]],
                           [[300, 60, 2], [302, 90, 2], [280, 130, 2], [330, 128, 2]]],
         "street_02.jpg": [[[10, 20, 1], [12, 40, 2], [5, 60, 0], [30, 61, 2]]]}


def kp_coco(poses=POSES, names=BODY.keypoints, layout="standard"):
    """A COCO Keypoints file for the sample images, keypoint names in `names` order: the standard layout (CVAT 2.73
    reads and writes it), or "per-point" (each point declared again as a category under "person")."""
    cats = [{"id": 1, "name": "person", "supercategory": "", "keypoints": list(names), "skeleton": []},  # edges: ignored
            {"id": 2, "name": "car", "supercategory": "", "keypoints": [], "skeleton": []}]
    if layout == "per-point": cats += [{"id": i + 3, "name": n, "supercategory": "person"} for i, n in enumerate(names)]
    images = [{"id": i + 1, "file_name": p.name, "width": 480, "height": 320} for i, p in enumerate(IMAGES)]
    anns = []
    for im in images:
        for pose in poses.get(im["file_name"], []):
            by_name = dict(zip(BODY.keypoints, pose))
            kp = [v for n in names for v in by_name[n]]
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 1, 1],
                         "area": 1, "keypoints": kp, "num_keypoints": sum(t[2] > 0 for t in pose)})
    return {"licenses": [], "info": {}, "categories": cats, "images": images, "annotations": anns}


@pytest.fixture
def kp_task(client):
    return new_task(client, labels=KP_LABELS, name="poses")


def skeletons(server, task):
    "The task's skeletons as {frame name: sorted [(keypoint name, x, y, outside, occluded)...]} per pose."
    labels = {l.id: l for l in task.get_labels()}
    sub = {s.id: s.name for l in labels.values() for s in l.sublabels}
    frames = [f.name for f in task.get_frames_info()]
    out = {}
    for s in shapes(server, task):
        assert s["type"] == "skeleton" and s["points"] == [] and labels[s["label_id"]].name == "person"
        assert {e["type"] for e in s["elements"]} == {"points"} and all(e["frame"] == s["frame"] for e in s["elements"])
        out.setdefault(frames[s["frame"]], []).append(
            sorted((sub[e["label_id"]], *e["points"], e["outside"], e["occluded"]) for e in s["elements"]))
    return {k: sorted(v) for k, v in out.items()}


def expected_skeletons(poses=POSES):
    return {f: sorted(sorted((n, float(x), float(y), v == 0, v == 1) for n, (x, y, v) in zip(BODY.keypoints, pose))
                      for pose in ps) for f, ps in poses.items()}


def test_keypoints_import_export_round_trip(server, kp_task, tmp_path):
    kp_task.import_annotations("COCO Keypoints 1.0", write(tmp_path, kp_coco()))  # a bare JSON file is accepted
    assert skeletons(server, kp_task) == expected_skeletons()  # v=0 outside (coordinates kept), v=1 occluded
    got = kp_task.get_annotations()  # through the SDK's models: skeleton shapes with their elements
    assert [len(s.elements) for s in got.shapes] == [4, 4, 4]

    out = kp_task.export_dataset("COCO Keypoints 1.0", tmp_path / "kp.zip", include_images=False)
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["annotations/person_keypoints_default.json"]
        exp = json.loads(zf.read("annotations/person_keypoints_default.json"))
    cats = exp["categories"]  # CONTRACT: top-level labels only, ids counting the sublabels, both lists on each
    assert [(c["id"], c["name"], c["supercategory"]) for c in cats] == [(1, "person", ""), (6, "car", "")]
    assert cats[0]["keypoints"] == BODY.keypoints and cats[0]["skeleton"] == BODY.pairs  # edges from the task's SVG
    assert (cats[1]["keypoints"], cats[1]["skeleton"]) == ([], [])
    names = {im["id"]: im["file_name"] for im in exp["images"]}
    back = {}
    for a in exp["annotations"]:
        assert a["category_id"] == 1 and a["segmentation"] == [] and a["iscrowd"] == 0
        assert a["attributes"] == {"occluded": False, "keyframe": False}
        trip = [a["keypoints"][i:i + 3] for i in range(0, len(a["keypoints"]), 3)]
        assert a["num_keypoints"] == sum(v > 0 for _, _, v in trip)
        seen = [(x, y) for x, y, v in trip if v]
        x0, y0 = min(x for x, _ in seen), min(y for _, y in seen)
        assert a["bbox"] == [x0, y0, max(x for x, _ in seen) - x0, max(y for _, y in seen) - y0]
        back.setdefault(names[a["image_id"]], []).append(trip)
    assert {f: sorted(p) for f, p in back.items()} == {f: sorted(p) for f, p in POSES.items()}

    kp_task.import_annotations("COCO Keypoints 1.0", out)  # CVAT's own export imports again, unchanged
    assert skeletons(server, kp_task) == expected_skeletons()
    checked = check_contract(server)  # skeleton shapes with `elements` validate as LabeledShape / SubLabeledShape
    assert {("GET", "/api/tasks/{id}/annotations/", 200), ("GET", "/api/labels", 200)} <= checked


def test_keypoints_matched_by_name_and_zip(server, kp_task, tmp_path):
    coco = kp_coco(names=BODY.keypoints[::-1])
    zpath = tmp_path / "kp.zip"
    with zipfile.ZipFile(zpath, "w") as zf: zf.writestr("annotations/person_keypoints_train.json", json.dumps(coco))
    kp_task.import_annotations("COCO Keypoints 1.0", zpath)
    assert skeletons(server, kp_task) == expected_skeletons()


def test_keypoints_boxes_dropped_segmentation_kept(server, kp_task, tmp_path):
    coco = kp_coco({"street_01.jpg": POSES["street_01.jpg"][:1]})
    coco["annotations"][0]["segmentation"] = [[90, 40, 140, 40, 140, 130, 90, 130]]
    kp_task.import_annotations("COCO Keypoints 1.0", write(tmp_path, coco))
    got = sorted(shapes(server, kp_task), key=lambda s: s["type"])
    assert [s["type"] for s in got] == ["polygon", "skeleton"]  # the bbox is gone
    assert got[0]["group"] == got[1]["group"] > 0 and got[0]["label_id"] == got[1]["label_id"]


def kp_fail(task, tmp_path, coco):
    with pytest.raises(BackgroundRequestException) as e:
        task.import_annotations("COCO Keypoints 1.0", write(tmp_path, coco))
    return str(e.value)


DM_PREFIX = (f"{MSG_PREFIX}Failed to import dataset 'coco_person_keypoints' at "
             "'/home/django/data/tmp/import/annotations/default.json': ")


def test_keypoints_traps_fail_and_keep_annotations(server, kp_task, tmp_path):
    "Each row of CONTRACT.md's COCO Keypoints table that a real 2.73 server refused, with its message."
    kp_task.import_annotations("COCO Keypoints 1.0", write(tmp_path, kp_coco()))
    before = shapes(server, kp_task)
    # the per-point layout: each point declared again as a category under the skeleton's name
    assert kp_fail(kp_task, tmp_path, kp_coco(layout="per-point")) == \
        DM_PREFIX + "\"Label 'person' 'nose' already exists\"\n"
    coco = kp_coco(layout="per-point")
    coco["categories"] = coco["categories"][2:] + coco["categories"][:2]  # listed before "person"
    assert kp_fail(kp_task, tmp_path, coco) == DM_PREFIX + "Missing annotation field 'keypoints'\n"
    for c in coco["categories"][:4]: c["keypoints"] = []
    assert kp_fail(kp_task, tmp_path, coco) == DM_PREFIX + "Missing annotation field 'skeleton'\n"
    for c in coco["categories"][:4]: c["skeleton"] = []
    assert kp_fail(kp_task, tmp_path, coco).endswith("\"Label 'person' 'nose' already exists\"\n")
    # a category without the lists
    coco = kp_coco()
    del coco["categories"][1]["keypoints"]
    assert kp_fail(kp_task, tmp_path, coco) == DM_PREFIX + "Missing annotation field 'keypoints'\n"
    # a box in a keypoints file: a skeleton with no elements
    coco = kp_coco()
    coco["annotations"].append({"id": 99, "image_id": 1, "category_id": 2, "iscrowd": 0, "bbox": [5, 5, 9, 9],
                                "area": 81, "segmentation": [], "keypoints": []})
    msg = kp_fail(kp_task, tmp_path, coco)
    assert msg.startswith("rest_framework.exceptions.ValidationError: {'shapes': [{}, ") and msg.count("{}") == 3
    assert "{'elements': [ErrorDetail(string='at least one required for skeleton shape', code='invalid')]}" in msg
    # more triplets than names (cvat-ai/cvat#5285)
    coco = kp_coco()
    coco["annotations"][0]["keypoints"] += [1, 1, 2]
    assert kp_fail(kp_task, tmp_path, coco) == (
        f"{MSG_PREFIX}Image street_01: can't import annotation #0 (skeleton): "
        "list indices must be integers or slices, not NoneType\n")
    # a keypoint the task's skeleton lacks
    coco = kp_coco()
    coco["categories"][0]["keypoints"][3] = "eye_l"
    assert kp_fail(kp_task, tmp_path, coco) == (
        f"{MSG_PREFIX}Image street_01: can't import annotation #0 (skeleton): "
        "Label 'eye_l' is not registered for this task\n")
    # a skeleton the task lacks
    coco = kp_coco()
    coco["categories"][0]["name"] = "horse"
    assert kp_fail(kp_task, tmp_path, coco).endswith("Label 'horse' is not registered for this task\n")
    # visibility 3
    coco = kp_coco()
    coco["annotations"][0]["keypoints"][2] = 3
    assert "3 is not a valid Visibility" in kp_fail(kp_task, tmp_path, coco)
    # a triplet short
    coco = kp_coco()
    coco["annotations"][0]["keypoints"].pop()
    assert "not divisible by 3" in kp_fail(kp_task, tmp_path, coco)
    # an unmatched image, and a missing licenses section, as for COCO 1.0
    coco = kp_coco()
    coco["images"][0]["file_name"] = "train/street_01.jpg"
    assert kp_fail(kp_task, tmp_path, coco) == \
        f"{MSG_PREFIX}Could not match item id: 'train/street_01' with any task frame\n"
    coco = kp_coco()
    del coco["licenses"]
    assert "Cannot find the licenses section" in kp_fail(kp_task, tmp_path, coco)
    # an instances zip is not a keypoints dataset
    zpath = tmp_path / "inst.zip"
    with zipfile.ZipFile(zpath, "w") as zf: zf.writestr("annotations/instances_default.json", json.dumps(kp_coco()))
    with pytest.raises(BackgroundRequestException, match=r"annotations/person_keypoints_<subset>\.json"):
        kp_task.import_annotations("COCO Keypoints 1.0", zpath)
    assert shapes(server, kp_task) == before
    check_contract(server)


def test_keypoints_fewer_names_store_fewer_elements_and_edges_are_ignored(server, kp_task, tmp_path):
    "CONTRACT: a category naming fewer points than the skeleton imports, each pose without the others; edges unread."
    coco = kp_coco(names=BODY.keypoints[:2])
    coco["categories"][0]["skeleton"] = [[0, 1], [7, 9]]  # 0-based and past the list: not read
    kp_task.import_annotations("COCO Keypoints 1.0", write(tmp_path, coco))
    assert {len(s["elements"]) for s in shapes(server, kp_task)} == {2}


def test_keypoints_export_of_instances_task_and_coco_export_of_skeletons(server, kp_task, task, tmp_path):
    task.import_annotations("COCO 1.0", SAMPLE)
    out = task.export_dataset("COCO Keypoints 1.0", tmp_path / "a.zip", include_images=False)
    with zipfile.ZipFile(out) as zf: exp = json.loads(zf.read("annotations/person_keypoints_default.json"))
    assert exp["annotations"] == [] and all(c["keypoints"] == [] for c in exp["categories"])  # no skeletons: nothing
    kp_task.import_annotations("COCO Keypoints 1.0", write(tmp_path, kp_coco()))
    out = kp_task.export_dataset("COCO 1.0", tmp_path / "b.zip", include_images=False)
    with zipfile.ZipFile(out) as zf: exp = json.loads(zf.read("annotations/instances_default.json"))
    assert exp["annotations"] == [] and [c["name"] for c in exp["categories"]][:2] == ["person", "nose"]  # COCO 1.0
    assert exp["categories"][1]["supercategory"] == "person"  # lists every label, sublabels too (CONTRACT)


# ---------------------------------------------------------------------------------------------------------------
# Request life cycle: held imports, 409, failure keeps annotations

def tus_import(server, task, data, fmt="COCO 1.0", mode=None):
    "Upload `data` by TUS as the SDK does and send Upload-Finish; status and body of the finishing request."
    base = f"/api/tasks/{task.id}/annotations/"
    q = "?format=" + urllib.request.quote(fmt) + (f"&import_mode={mode}" if mode else "")
    assert raw(server, "POST", base + q, headers={"Upload-Start": ""})[0] == 202
    s, h, _ = raw(server, "POST", base, headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
                                                 "Upload-Metadata": "filename " + base64.b64encode(b"a.json").decode()})
    assert s == 201
    fid = h["Upload-Filename"]
    patch = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    assert raw(server, "PATCH", base + fid, data, patch)[0] == 204
    s, _, body = raw(server, "POST", f"{base}{q}&filename={fid}", headers={"Upload-Finish": ""})
    return s, json.loads(body) if body else None


def multipart_import(server, task, data, fmt="COCO 1.0"):
    "Flow A: one multipart request with `annotation_file`."
    boundary = "standin-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"annotation_file\"; filename=\"a.json\"\r\n"
            f"Content-Type: application/json\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    s, _, out = raw(server, "POST", f"/api/tasks/{task.id}/annotations/?format=" + urllib.request.quote(fmt), body,
                    {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return s, json.loads(out) if out else None


def request(server, rq):
    s, _, body = raw(server, "GET", "/api/requests/" + urllib.request.quote(rq, safe=""))
    assert s == 200
    return json.loads(body)


def test_held_import_queued_409_then_released(server, task, client):
    server.hold_imports = True
    s, body = tus_import(server, task, SAMPLE.read_bytes())
    rq = body["rq_id"]
    assert s == 202 and rq == f"action=import&target=task&target_id={task.id}&subresource=annotations"
    r = request(server, rq)
    assert (r["status"], r["progress"], r["started_date"], r["finished_date"], r["message"]) == \
        ("queued", 0.0, None, None, "")
    assert shapes(server, task) == []  # nothing imported yet
    assert tus_import(server, task, SAMPLE.read_bytes()) == (409, {"rq_id": rq})  # TUS flow
    assert multipart_import(server, task, SAMPLE.read_bytes()) == (409, {"rq_id": rq})  # one-request flow
    with connect(server) as c, pytest.raises(cvat_sdk.exceptions.ApiException) as e:
        c.tasks.retrieve(task.id).import_annotations("COCO 1.0", SAMPLE)  # the SDK sees the 409 too
    assert e.value.status == 409
    assert server.release_imports("started") == [rq]
    r = request(server, rq)
    assert r["status"] == "started" and r["started_date"] and r["finished_date"] is None
    assert tus_import(server, task, SAMPLE.read_bytes())[0] == 409
    assert server.release_imports("finished") == [rq]
    r = request(server, rq)
    assert r["status"] == "finished" and r["progress"] == 1.0 and r["finished_date"] and r["expiry_date"]
    assert len(shapes(server, task)) == len(sample()["annotations"])
    assert not server.hold_imports and tus_import(server, task, SAMPLE.read_bytes())[0] == 202  # no longer busy
    checked = check_contract(server)
    assert ("GET", "/api/requests/{id}", 200) in checked


def test_held_import_failed_keeps_annotations(server, task, tmp_path):
    task.import_annotations("COCO 1.0", SAMPLE)
    before = shapes(server, task)
    server.hold_imports = True
    s, body = tus_import(server, task, json.dumps({**sample(), "annotations": []}).encode())
    assert s == 202
    server.release_imports("failed", message="RuntimeError: worker lost\n")
    r = request(server, body["rq_id"])
    assert (r["status"], r["message"]) == ("failed", "RuntimeError: worker lost\n")
    assert shapes(server, task) == before
    # a held import of a bad file, released to run, fails with CVAT's message and changes nothing either
    server.hold_imports = True
    coco = sample(); coco["images"][0]["file_name"] = "nope.jpg"
    s, body = multipart_import(server, task, json.dumps(coco).encode())
    assert s == 202 and request(server, body["rq_id"])["status"] == "queued"
    server.release_imports()
    r = request(server, body["rq_id"])
    assert r["status"] == "failed" and r["message"] == f"{MSG_PREFIX}Could not match item id: 'nope' with any task frame\n"
    assert shapes(server, task) == before
    check_contract(server)


def test_release_rejects_unknown_status(server):
    with pytest.raises(ValueError): server.release_imports("done")


# ---------------------------------------------------------------------------------------------------------------
# Injected faults

DISCONNECTED = (ConnectionError, http.client.HTTPException, urllib.error.URLError)


def test_fault_drop_after_keeps_partial_tus_chunk(server, task):
    base = f"/api/tasks/{task.id}/annotations/"
    payload = SAMPLE.read_bytes()
    assert raw(server, "POST", base + "?format=COCO+1.0", headers={"Upload-Start": ""})[0] == 202
    _, h, _ = raw(server, "POST", base, headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(payload)),
                                                 "Upload-Metadata": "filename " + base64.b64encode(b"a.json").decode()})
    fid = h["Upload-Filename"]
    rule = server.faults.add("PATCH", r"/annotations/[^/]+$", status=None, times=1, drop_after=100)
    patch = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}
    with pytest.raises(DISCONNECTED):
        raw(server, "PATCH", base + fid, payload, {**patch, "Upload-Offset": "0"})
    assert rule["hits"] == 1
    s, h, _ = raw(server, "HEAD", base + fid, headers={"Tus-Resumable": "1.0.0"})
    assert s == 200 and h["Upload-Offset"] == "100"  # the bytes that arrived were kept
    dropped = [e for e in server.exchanges if e.get("dropped")]
    assert [(e["method"], e["status"]) for e in dropped] == [("PATCH", 204)]  # acted on, never answered
    s, h, _ = raw(server, "PATCH", base + fid, payload[100:], {**patch, "Upload-Offset": "100"})
    assert s == 204 and h["Upload-Offset"] == str(len(payload))
    s, _, body = raw(server, "POST", f"{base}?format=COCO+1.0&filename={fid}", headers={"Upload-Finish": ""})
    assert s == 202 and request(server, json.loads(body)["rq_id"])["status"] == "finished"
    assert len(shapes(server, task)) == len(sample()["annotations"])


def test_fault_drop_and_injected_statuses(server, task, capfd):
    server.faults.add("GET", r"^/api/tasks$", drop=True, times=1)
    with pytest.raises(DISCONNECTED): raw(server, "GET", "/api/tasks")
    assert raw(server, "GET", "/api/tasks")[0] == 200  # the rule is used up; the server thread lives on
    r503 = server.faults.add("GET", r"^/api/tasks/\d+$", status=503, times=2, headers={"Retry-After": "0"})
    for _ in range(2):
        s, h, body = raw(server, "GET", f"/api/tasks/{task.id}")
        assert (s, h["Retry-After"], json.loads(body)) == (503, "0", {"detail": "Service Unavailable"})
    assert r503["hits"] == 2 and raw(server, "GET", f"/api/tasks/{task.id}")[0] == 200
    server.faults.add("POST", r"/dataset/export$", status=409, times=1)
    s, _, body = raw(server, "POST", f"/api/tasks/{task.id}/dataset/export?format=COCO%201.0&save_images=false")
    assert s == 409 and json.loads(body) == {
        "rq_id": f"action=export&target=task&target_id={task.id}&user_id=1&subresource=annotations&format=COCO_1~0"}
    server.faults.add("*", r"^/api/users/self$", status=401, times=1)
    s, _, body = raw(server, "GET", "/api/users/self")
    assert (s, json.loads(body)) == (401, {"detail": "Invalid token."})
    server.faults.add("GET", r"^/api/labels$", status=404, times=5)
    server.faults.clear()
    assert raw(server, "GET", f"/api/labels?task_id={task.id}")[0] == 200
    injected = [(e["method"], e["status"]) for e in server.exchanges if e.get("injected")]
    assert injected == [("GET", 503), ("GET", 503), ("POST", 409), ("GET", 401)]
    checked = check_contract(server)
    assert ("POST", "/api/tasks/{id}/dataset/export", 409) in checked  # the injected 409 is a valid RqId
    assert "Traceback" not in capfd.readouterr().err  # drops are quiet


# ---------------------------------------------------------------------------------------------------------------
# CVAT for images 1.1 export

XML_LABELS = LABELS[:2] + [
    {"name": "sign", "type": "any", "attributes": [{"name": "lit", "input_type": "checkbox", "mutable": False,
                                                    "default_value": "false", "values": ["false", "true"]}]},
    Skeleton("walker", ["head", "foot"], [("head", "foot")]).cvat_label(),
    {"name": "lamp", "type": "points"}, {"name": "day", "type": "tag"}]


def _objects(ds) -> list:
    "Sorted `(file name, category, kind, geometry)` of a dataset's boxes, polygon parts and masks (masks as pixels)."
    cat = {c["id"]: c["name"] for c in ds.categories}
    name = {im["id"]: im["file_name"] for im in ds.images}
    out = []
    for a in ds.annotations:
        seg, key = a.get("segmentation"), (name[a["image_id"]], cat[a["category_id"]])
        if isinstance(seg, dict): out.append((*key, "mask", codecs.decode_rle(seg).tobytes()))
        elif seg: out += [(*key, "polygon", tuple(round(v, 2) for v in part)) for part in seg if part]
        elif "keypoints" not in a: out.append((*key, "box", tuple(round(v, 2) for v in a["bbox"])))
    return sorted(out)


def test_cvat_xml_export_via_sdk_reads_back_exactly(server, client, tmp_path):
    from cvat_nb.coco import Dataset
    from cvat_nb.cvat_xml import read_cvat_xml
    t = new_task(client, labels=XML_LABELS, name="xml")
    t.import_annotations("COCO 1.0", SAMPLE)
    labels = {l.name: l for l in t.get_labels()}
    sub = {s.name: s.id for s in labels["walker"].sublabels}
    lit = next(a.id for a in labels["sign"].attributes if a.name == "lit")
    common = dict(occluded=False, outside=False, group=0, source="manual", z_order=0, rotation=0.0, attributes=[])
    extra = [{**common, "type": "rectangle", "frame": 0, "label_id": labels["sign"].id, "points": [5, 6, 25.5, 40],
              "attributes": [{"spec_id": lit, "value": "true"}]},
             {**common, "type": "skeleton", "frame": 1, "label_id": labels["walker"].id, "points": [], "elements": [
                 {**common, "type": "points", "frame": 1, "label_id": sub["head"], "points": [10, 20], "occluded": True},
                 {**common, "type": "points", "frame": 1, "label_id": sub["foot"], "points": [12, 60], "outside": True}]},
             {**common, "type": "points", "frame": 2, "label_id": labels["lamp"].id, "points": [5, 6, 7.25, 8]}]
    tags = [{"frame": 3, "label_id": labels["day"].id, "group": 0, "source": "manual", "attributes": []}]
    server.set_shapes(t.id, shapes(server, t) + extra, tags=tags)
    assert raw(server, "GET", f"/api/tasks/{t.id}/annotations")[0] == 200  # the tags view, checked by the schema below

    out = tmp_path / "xml.zip"
    t.export_dataset("CVAT for images 1.1", out, include_images=False)
    z = zipfile.ZipFile(out)
    assert z.namelist() == ["annotations.xml"]
    xml = z.read("annotations.xml").decode()
    assert "<name>xml</name>" in xml and "<parent>walker</parent>" in xml and 'rle="' in xml and 'left="' in xml

    ds, issues = read_cvat_xml(out)
    assert issues.kinds() == {"tag as classification": 1}, str(issues)  # the "day" tag set on street_04
    sent = Dataset.load(SAMPLE)
    back = _objects(ds)
    assert [o for o in back if o[:3] != ("street_01.jpg", "sign", "box") or o[3] != (5, 6, 20.5, 34)] == _objects(sent)
    assert ("street_01.jpg", "sign", "box", (5, 6, 20.5, 34)) in back
    assert sum(o[2] == "mask" for o in back) == sum(isinstance(a["segmentation"], dict) for a in sent.annotations) > 0
    by = lambda cat: [a for a in ds.annotations if ds.category(a["category_id"])["name"] == cat]
    sign = next(a for a in by("sign") if a["bbox"] == [5, 6, 20.5, 34])
    assert sign["attributes"] == {"occluded": False, "lit": True}
    (walker,), (lamp,) = by("walker"), by("lamp")
    assert ds.category("walker")["keypoints"] == ["head", "foot"] and ds.category("walker")["skeleton"] == [[1, 2]]
    assert (walker["image_id"], walker["keypoints"]) == (2, [10, 20, 1, 0, 0, 0])  # occluded → v=1, outside → 0
    assert (lamp["image_id"], lamp["keypoints"]) == (3, [5, 6, 2, 7.25, 8, 2])
    assert ds.images[3]["classifications"] == [{"label": "day"}]
    assert [im["file_name"] for im in ds.images] == [f.name for f in t.get_frames_info()]

    # a COCO re-import replaces the tags too, as CVAT's replace does
    t.import_annotations("COCO 1.0", SAMPLE)
    assert server.annotations(t.id)["tags"] == []
    checked = check_contract(server)
    assert {("POST", "/api/tasks/{id}/dataset/export", 202), ("GET", "/api/tasks/{id}/annotations/", 200)} <= checked


def test_cvat_xml_is_not_an_import_format(server, task, tmp_path):
    with pytest.raises(cvat_sdk.exceptions.ApiException) as e:
        task.import_annotations("CVAT for images 1.1", SAMPLE)
    assert e.value.status == 400 and b"Unknown input format 'CVAT for images 1.1'" in e.value.body
