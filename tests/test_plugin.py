"""The pytest fixtures `cvat_nb` registers (`cvat_nb.testing`, a pytest11 entry point): asked for by name, no conftest."""
from __future__ import annotations
import json, os
from pathlib import Path

import pytest

pytest.importorskip("cvat_sdk")
from cvat_nb.cvat import connect
from cvat_nb.testing import STANDIN_TOKEN, STANDIN_USER

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SAMPLE = Path(__file__).resolve().parents[1] / "samples/coco/instances_default.json"


def test_fixtures_come_from_the_entry_point(request):
    plugin = request.config.pluginmanager.get_plugin("cvat_nb")
    assert plugin is not None and plugin.__name__ == "cvat_nb.testing"


def test_cvat_env_points_connect_at_the_standin(cvat_env, tmp_path):
    assert os.environ["CVAT_URL"] == cvat_env.url and os.environ["CVAT_ACCESS_TOKEN"] == STANDIN_TOKEN
    coco = json.loads(SAMPLE.read_text())
    tid = cvat_env.add_task("street", [{"name": c["name"]} for c in coco["categories"]])
    cvat_env.add_frames(tid, [{"name": i["file_name"], "width": i["width"], "height": i["height"]} for i in coco["images"]])
    with connect() as cv:
        assert cv.user == STANDIN_USER
        man = cv.upload(coco, tid, out_dir=tmp_path, progress=False)
    assert man["status"] == "imported" and len(cvat_env.annotations(tid)["shapes"]) == len(coco["annotations"])


def test_cvat_standin_is_fresh_per_test(cvat_standin):
    assert cvat_standin.tasks == {} and cvat_standin.url.startswith("http://127.0.0.1:")
    cvat_standin.add_task("leftover", [{"name": "car"}])
