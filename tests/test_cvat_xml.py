"""`cvat_nb.cvat_xml`: CVAT for images 1.1 XML (file, folder, zip) into COCO, with the issues report and bad inputs."""
from __future__ import annotations
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cvat_nb import codecs
from cvat_nb.errors import CvatNbError
from cvat_nb.cvat_xml import KINDS, read_cvat_xml, cvat_rle_to_mask, mask_to_cvat_rle, meta_labels, Issues

META = """<meta><{kind}><id>1</id><name>t</name><labels>
<label><name>car</name><type>any</type><attributes>
  <attribute><name>parked</name><mutable>False</mutable><input_type>checkbox</input_type><default_value>false</default_value><values>false</values></attribute>
  <attribute><name>speed</name><mutable>False</mutable><input_type>number</input_type><default_value>0</default_value><values>0;100;1</values></attribute>
  <attribute><name>color</name><mutable>False</mutable><input_type>select</input_type><default_value>red</default_value><values>red
blue</values></attribute></attributes></label>
<label><name>person</name><type>skeleton</type><attributes/><svg>&lt;line x1="1" y1="1" x2="2" y2="2" data-type="edge" data-node-from="1" data-node-to="2"&gt;&lt;/line&gt;&lt;line data-type="edge" data-node-from="2" data-node-to="3"&gt;&lt;/line&gt;&lt;circle r="0.75" cx="1" cy="1" data-type="element node" data-element-id="1" data-node-id="1" data-label-id="3" data-label-name="nose"&gt;&lt;/circle&gt;&lt;circle r="0.75" data-node-id="2" data-label-name="neck"&gt;&lt;/circle&gt;&lt;circle r="0.75" data-node-id="3" data-label-name="hip"&gt;&lt;/circle&gt;</svg></label>
<label><name>nose</name><type>points</type><attributes/><parent>person</parent></label>
<label><name>neck</name><type>points</type><attributes/><parent>person</parent></label>
<label><name>hip</name><type>points</type><attributes/><parent>person</parent></label>
<label><name>road</name><type>polyline</type><attributes/></label>
<label><name>blob</name><type>mask</type><attributes/></label>
<label><name>spot</name><type>points</type><attributes/></label>
<label><name>sign</name><type>ellipse</type><attributes/></label>
<label><name>crate</name><type>cuboid</type><attributes/></label>
<label><name>night</name><type>tag</type><attributes/></label>
</labels></{kind}></meta>"""


def doc(images, kind="task"):
    return f'<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>{META.format(kind=kind)}{images}</annotations>'


def img(body, name="a.jpg", w=10, h=8, id=0):
    return f'<image id="{id}" name="{name}" width="{w}" height="{h}">{body}</image>'


def read(tmp_path, xml, **kw):
    p = tmp_path / "annotations.xml"
    p.write_text(xml)
    return read_cvat_xml(p, **kw)


# --- elements -------------------------------------------------------------------------------------------------------

def test_meta_labels_and_categories(tmp_path):
    ds, issues = read(tmp_path, doc(img("")))
    assert [c["name"] for c in ds.categories] == ["car", "person", "road", "blob", "spot", "sign", "crate"]
    person = ds.category("person")
    assert person["keypoints"] == ["nose", "neck", "hip"] and person["skeleton"] == [[1, 2], [2, 3]]
    assert ds.images == [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 8}]
    assert len(issues) == 0 and str(issues) == "no issues: everything was converted"


@pytest.mark.parametrize("kind", ["task", "job", "project"])
def test_job_and_project_meta(tmp_path, kind):
    ds, _ = read(tmp_path, doc(img(""), kind=kind))
    assert ds.category("car")["name"] == "car"


def test_nested_sublabels_meta():
    from defusedxml import ElementTree as ET
    root = ET.fromstring("<annotations><meta><task><labels><label><name>s</name><type>skeleton</type><sublabels>"
                         "<label><name>a</name></label><label><name>b</name></label></sublabels></label>"
                         "</labels></task></meta></annotations>")
    assert meta_labels(root)["s"]["sublabels"] == ["a", "b"]


def test_box_with_attributes(tmp_path):
    ds, issues = read(tmp_path, doc(img(
        '<box label="car" source="manual" occluded="1" xtl="1.5" ytl="2" xbr="6" ybr="7.25" z_order="0">'
        '<attribute name="parked">true</attribute><attribute name="speed">42</attribute>'
        '<attribute name="color">blue</attribute></box>')))
    (a,) = ds.annotations
    assert a["bbox"] == [1.5, 2.0, 4.5, 5.25] and a["segmentation"] == [] and a["category_id"] == ds.category("car")["id"]
    assert a["attributes"] == {"occluded": True, "parked": True, "speed": 42, "color": "blue"}
    assert len(issues) == 0


def test_rotated_box_becomes_polygon(tmp_path):
    ds, issues = read(tmp_path, doc(img('<box label="car" occluded="0" xtl="2" ytl="2" xbr="6" ybr="4" rotation="90"/>')))
    (a,) = ds.annotations
    pts = np.array(a["segmentation"][0]).reshape(-1, 2)
    np.testing.assert_allclose(sorted(map(tuple, pts.round(6))), [(3, 1), (3, 5), (5, 1), (5, 5)], atol=1e-6)
    assert a["attributes"]["rotation"] == 90.0
    assert issues.kinds() == {"rotated box as polygon": 1}


def test_polygon(tmp_path):
    ds, issues = read(tmp_path, doc(img('<polygon label="car" occluded="0" points="1,1;5,1;5,4;1,4" z_order="0"/>'
                                        '<polygon label="car" occluded="0" points="1,1;2,2"/>')))
    (a,) = ds.annotations
    assert a["segmentation"] == [[1.0, 1.0, 5.0, 1.0, 5.0, 4.0, 1.0, 4.0]]
    assert a["bbox"] == [1.0, 1.0, 4.0, 3.0] and a["area"] == 12.0
    assert issues.entries == [dict(kind="degenerate polygon", image="a.jpg", label="car", count=1)]


def test_points_keypoints(tmp_path):
    ds, _ = read(tmp_path, doc(img('<points label="spot" occluded="0" points="1,1;3,2;5,5"/>'
                                   '<points label="spot" occluded="1" points="2,2"/>')))
    assert ds.category("spot")["keypoints"] == ["1", "2", "3"]
    a, b = ds.annotations
    assert a["keypoints"] == [1.0, 1.0, 2, 3.0, 2.0, 2, 5.0, 5.0, 2] and a["num_keypoints"] == 3
    assert b["keypoints"] == [2.0, 2.0, 1, 0.0, 0.0, 0, 0.0, 0.0, 0] and b["num_keypoints"] == 1


def test_skeleton_visibility(tmp_path):
    sk = ('<skeleton label="person" source="manual" z_order="0">'
          '<points label="nose" source="manual" outside="0" occluded="0" points="2,1"/>'
          '<points label="neck" source="manual" outside="0" occluded="1" points="2,3"/>'
          '<points label="hip" source="manual" outside="1" occluded="0" points="9,9"/></skeleton>'
          '<skeleton label="person"><points label="nose" outside="1" occluded="0" points="1,1"/></skeleton>')
    ds, issues = read(tmp_path, doc(img(sk)))
    (a,) = ds.annotations
    assert a["keypoints"] == [2.0, 1.0, 2, 2.0, 3.0, 1, 0.0, 0.0, 0] and a["num_keypoints"] == 2
    assert issues.kinds() == {"empty skeleton": 1}


def test_skeleton_unknown_point_names_the_element(tmp_path):
    sk = '<skeleton label="person"><points label="tail" outside="0" occluded="0" points="2,1"/></skeleton>'
    with pytest.raises(CvatNbError, match=r"annotations.xml: <image id=\"0\" name=\"a.jpg\"> <skeleton> #1 field 'label'"):
        read(tmp_path, doc(img(sk)))


def test_tags_become_classifications(tmp_path):
    ds, issues = read(tmp_path, doc(img('<tag label="night" source="manual"/>'
                                        '<tag label="car"><attribute name="parked">false</attribute></tag>')))
    assert ds.images[0]["classifications"] == [{"label": "night"}, {"label": "car", "attributes": {"parked": False}}]
    assert "night" not in [c["name"] for c in ds.categories] and not ds.annotations
    assert issues.kinds() == {"tag as classification": 2}  # kept, and said: COCO tools ignore classifications


def test_unrepresentable_shapes_are_listed(tmp_path):
    body = ('<polyline label="road" occluded="0" points="0,5;9,5"/><polyline label="road" occluded="0" points="0,6;9,6"/>'
            '<ellipse label="sign" occluded="0" cx="5" cy="4" rx="3" ry="2"/>'
            '<cuboid label="crate" occluded="0" xtl1="0" ytl1="0" xbl1="0" ybl1="1" xtr1="1" ytr1="0" xbr1="1" ybr1="1" '
            'xtl2="0" ytl2="0" xbl2="0" ybl2="1" xtr2="1" ytr2="0" xbr2="1" ybr2="1"/>')
    ds, issues = read(tmp_path, doc(img(body)))
    assert not ds.annotations
    assert issues.kinds() == {"polyline": 2, "ellipse": 1, "cuboid": 1}
    assert dict(kind="polyline", image="a.jpg", label="road", count=2) in issues.entries
    assert "2 × polyline (label 'road', image 'a.jpg'): COCO has no open lines" in str(issues)


def test_ellipse_as_polygon_only_when_asked(tmp_path):
    ds, issues = read(tmp_path, doc(img('<ellipse label="sign" occluded="0" cx="5" cy="4" rx="3" ry="2"/>')),
                      ellipses="polygon")
    (a,) = ds.annotations
    assert len(a["segmentation"][0]) == 64
    np.testing.assert_allclose(a["bbox"], [2, 2, 6, 4], atol=0.05)
    assert abs(a["area"] - np.pi * 6) < 3
    assert issues.kinds() == {"ellipse as polygon": 1} and "32-gon" in str(issues)
    with pytest.raises(ValueError): read(tmp_path, doc(img("")), ellipses="circle")


def test_mixed_shape_types_and_unknown_labels(tmp_path):
    # a label of type `any` with boxes and polygons is normal CVAT, and COCO keeps both: no issue
    ds, issues = read(tmp_path, doc(img('<box label="car" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2"/>'
                                        '<polygon label="car" occluded="0" points="1,1;5,1;5,4"/>'
                                        '<box label="ghost" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2"/>')))
    assert len(ds.annotations) == 3
    assert "mixed shape types" not in issues.kinds()
    assert ds.annotations[0]["segmentation"] == [] and ds.annotations[1]["segmentation"]  # CVAT reads back both
    assert issues.kinds()["label not in meta"] == 1 and ds.category("ghost")
    assert "gives a label one type" not in KINDS["mixed shape types"]

def test_points_beside_areas_in_one_label_is_an_issue(tmp_path):
    # COCO puts both in one keypoint category: CVAT's COCO 1.0 import reads the points as boxes
    ds, issues = read(tmp_path, doc(img('<box label="car" occluded="0" xtl="1" ytl="1" xbr="2" ybr="2"/>'
                                        '<points label="car" occluded="0" points="1,1;2,2"/>'
                                        '<ellipse label="spot" occluded="0" cx="3" cy="3" rx="1" ry="1"/>'
                                        '<points label="spot" occluded="0" points="1,1"/>')))
    mixed = [e for e in issues if e["kind"] == "mixed shape types"]
    assert mixed == [dict(kind="mixed shape types", image=None, label="car", count=1, detail="used as box, points")]
    assert ds.category("car")["keypoints"] == ["1", "2"]
    assert "COCO 1.0 import turns each points shape into its box" in str(issues)
    # an ellipse kept as a polygon is an area too
    _, issues = read(tmp_path, doc(img('<ellipse label="spot" occluded="0" cx="3" cy="3" rx="1" ry="1"/>'
                                       '<points label="spot" occluded="0" points="1,1"/>')), ellipses="polygon")
    assert [e["label"] for e in issues if e["kind"] == "mixed shape types"] == ["spot"]


def test_issues_class():
    iss = Issues()
    for _ in range(3): iss.add("polyline", "a.jpg", "road")
    iss.add("track", label="car")
    assert len(iss) == 2 and iss.kinds() == {"polyline": 3, "track": 1}
    assert str(iss).splitlines() == [
        "3 × polyline (label 'road', image 'a.jpg'): COCO has no open lines; not imported",
        "1 × track (label 'car'): CVAT for video tracks are not read; export as CVAT for images"]
    assert repr(iss).startswith("Issues(2 entries)")


def test_video_tracks_are_listed(tmp_path):
    _, issues = read(tmp_path, doc(img("") + '<track id="0" label="car" source="manual"><box frame="0" outside="0" '
                                   'occluded="0" keyframe="1" xtl="1" ytl="1" xbr="2" ybr="2"/></track>'))
    assert issues.kinds() == {"track": 1}


# --- CVAT mask RLE ----------------------------------------------------------------------------------------------------

def cvat_rle_reference(mask):
    "CVAT's encoder as CVAT writes it (cvat/apps/dataset_manager): crop to the extent, runs row by row from 0."
    ys, xs = np.nonzero(mask)
    box = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1].ravel()
    runs, cur, n = [], 0, 0
    for v in box:
        if v != cur: runs.append(n); cur, n = v, 0
        n += 1
    runs.append(n)
    return runs, int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


@pytest.mark.parametrize("seed", range(25))
def test_cvat_rle_roundtrip_exact(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 30, 2)
    m = (rng.random((h, w)) < rng.uniform(0.05, 0.95)).astype(np.uint8)
    if not m.any(): m[rng.integers(h), rng.integers(w)] = 1
    enc = mask_to_cvat_rle(m)
    assert enc == cvat_rle_reference(m)
    full, clipped = cvat_rle_to_mask(*enc, h, w)
    assert not clipped and full.dtype == np.uint8 and np.array_equal(full, m)


def test_cvat_rle_edge_cases():
    for m in [np.ones((3, 4), np.uint8), np.eye(5, dtype=np.uint8), np.pad(np.ones((1, 1), np.uint8), 2)]:
        assert np.array_equal(cvat_rle_to_mask(*mask_to_cvat_rle(m), *m.shape)[0], m)
    assert mask_to_cvat_rle(np.ones((2, 2)))[0] == [0, 4]
    with pytest.raises(ValueError, match="sum to 5"): cvat_rle_to_mask([2, 3], 0, 0, 2, 2, 4, 4)
    with pytest.raises(ValueError, match="non-negative"): cvat_rle_to_mask([-1, 5], 0, 0, 2, 2, 4, 4)
    with pytest.raises(ValueError, match="empty"): mask_to_cvat_rle(np.zeros((2, 2)))


@pytest.mark.parametrize("seed", range(10))
def test_mask_element_is_exact_coco_rle(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    H, W = 13, 17
    m = np.zeros((H, W), np.uint8)
    y0, x0 = rng.integers(0, H - 3), rng.integers(0, W - 3)
    m[y0:, x0:] = rng.random((H - y0, W - x0)) < 0.6
    m[y0, x0] = 1
    rle, l, t, w, h = mask_to_cvat_rle(m)
    el = f'<mask label="blob" source="manual" occluded="0" rle="{", ".join(map(str, rle))}" left="{l}" top="{t}" width="{w}" height="{h}" z_order="0"/>'
    ds, issues = read(tmp_path, doc(img(el, w=W, h=H)))
    (a,) = ds.annotations
    assert np.array_equal(codecs.decode_rle(a["segmentation"]), m)
    assert a["area"] == float(m.sum()) and a["segmentation"]["size"] == [H, W]
    assert len(issues) == 0


def test_mask_clipped_and_empty(tmp_path):
    body = ('<mask label="blob" occluded="0" rle="0, 4" left="8" top="6" width="4" height="1"/>'
            '<mask label="blob" occluded="0" rle="4" left="0" top="0" width="2" height="2"/>')
    ds, issues = read(tmp_path, doc(img(body)))
    (a,) = ds.annotations
    assert a["area"] == 2.0 and a["bbox"] == [8.0, 6.0, 2.0, 1.0]
    assert issues.kinds() == {"mask clipped": 1, "empty mask": 1}


def test_bad_mask_names_the_element(tmp_path):
    with pytest.raises(CvatNbError, match=r"<image id=\"0\" name=\"a.jpg\"> <mask> #1 field 'rle': the runs sum to 3"):
        read(tmp_path, doc(img('<mask label="blob" occluded="0" rle="1, 2" left="0" top="0" width="2" height="2"/>')))
    with pytest.raises(CvatNbError, match=r"<mask> #1 field 'rle': is not a comma-separated"):
        read(tmp_path, doc(img('<mask label="blob" occluded="0" rle="1;3" left="0" top="0" width="2" height="2"/>')))


# --- zip and folder exports -------------------------------------------------------------------------------------------

def test_zip_export(tmp_path):
    z = tmp_path / "task_export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("annotations.xml", doc(img('<box label="car" occluded="0" xtl="1" ytl="1" xbr="3" ybr="3"/>')
                                           + img("", name="sub/b.jpg", id=1) + img("", name="c.jpg", id=2)))
        zf.writestr("images/a.jpg", b"x"); zf.writestr("images/sub/b.jpg", b"x")
    ds, issues = read_cvat_xml(z)
    assert ds.source == f"{z}:annotations.xml"
    assert [i["file_name"] for i in ds.images] == ["a.jpg", "sub/b.jpg", "c.jpg"] and len(ds.annotations) == 1
    assert issues.entries == [dict(kind="image file missing", image="c.jpg", label=None, count=1)]


def test_zip_member_and_folder(tmp_path):
    z = tmp_path / "e.zip"
    with zipfile.ZipFile(z, "w") as zf: zf.writestr("other.xml", doc(img("")))
    assert len(read_cvat_xml(z)[0].images) == 1  # the only XML member
    assert len(read_cvat_xml(z, member="other.xml")[0].images) == 1
    with pytest.raises(CvatNbError, match="no member 'annotations.xml'"): read_cvat_xml(z, member="annotations.xml")
    d = tmp_path / "unzipped"; (d / "images").mkdir(parents=True)
    (d / "annotations.xml").write_text(doc(img("")))
    ds, issues = read_cvat_xml(d)
    assert len(ds.images) == 1 and issues.kinds() == {"image file missing": 1}


# --- bad input: one line naming the file and element ---------------------------------------------------------------

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<annotations><version>&lol3;</version></annotations>"""
EXTERNAL = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><annotations>&x;</annotations>'


@pytest.mark.parametrize("raw,msg", [
    (b"this is not xml", "not valid XML (syntax error"),
    (b'{"images": []}', "not valid XML"),
    (doc(img('<box label="car" xtl="1"')).encode()[:-40], "not valid XML"),
    (doc(img("")).encode()[:200], "is the file cut short?"),
    (BOMB.encode(), "XML bombs"),
    (EXTERNAL.encode(), "refused by defusedxml"),
    (b"", "the file is empty"),
    (b"<coco><images/></coco>", "the root element is <coco>"),
    (doc('<image id="3" name="a.jpg" width="10"/>').encode(), "<image id=\"3\" name=\"a.jpg\"> field 'height': is missing"),
    (doc('<image id="3" name="a.jpg" width="0" height="4"/>').encode(), "field 'width': the image size 0×4"),
    (doc('<image id="3" name="a.jpg" width="ten" height="4"/>').encode(), "field 'width': is 'ten', not a number"),
    (doc('<image id="3" width="5" height="4"/>').encode(), "images[0] field 'name': is missing"),
    (doc(img("") + img("", id=1)).encode(), "<image id=\"1\" name=\"a.jpg\"> field 'name': an image named 'a.jpg' exists"),
    (doc(img('<box label="car" xtl="1" ytl="1" xbr="2"/>')).encode(), "<box> #1 field 'ybr': is missing"),
    (doc(img('<polygon label="car" points="1,1;2;3,3"/>')).encode(), "<polygon> #1 field 'points'"),
    (doc(img('<box xtl="1" ytl="1" xbr="2" ybr="2"/>')).encode(), "<box> #1 field 'label': is missing"),
])
def test_bad_inputs_are_one_line(tmp_path, raw, msg):
    p = tmp_path / "annotations.xml"
    p.write_bytes(raw)
    with pytest.raises(CvatNbError) as e: read_cvat_xml(p)
    s = str(e.value)
    assert "\n" not in s and s.startswith(str(p)) and msg in s, s


def test_missing_and_bad_zip(tmp_path):
    with pytest.raises(CvatNbError, match="no such file"): read_cvat_xml(tmp_path / "nope.xml")
    z = tmp_path / "x.zip"
    with zipfile.ZipFile(z, "w") as zf: zf.writestr("a.txt", "x")
    with pytest.raises(CvatNbError, match="XML members found: none"): read_cvat_xml(z)
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CvatNbError): read_cvat_xml(tmp_path / "bad.zip")


@pytest.mark.parametrize("seed", range(5))
def test_cvat_rle_matches_datumaro_reader(seed):
    "Datumaro's CVAT importer reads the same runs as a (width, height) column-major RLE, transposed."
    mask_tools = pytest.importorskip("datumaro.util.mask_tools")
    rng = np.random.default_rng(200 + seed)
    m = (rng.random((11, 9)) < 0.5).astype(np.uint8); m[3, 4] = 1
    rle, l, t, w, h = mask_to_cvat_rle(m)
    box = mask_tools.rle_to_mask({"counts": np.array(rle, np.uint32), "size": np.array([w, h])}).transpose()
    ref = np.zeros_like(m); ref[t:t + h, l:l + w] = box
    assert np.array_equal(cvat_rle_to_mask(rle, l, t, w, h, *m.shape)[0], ref) and np.array_equal(ref, m)
