"""The renderer and the widgets in-process: exact masks on the display grid, drawing on copies, problems shown not raised.

The browser tests (tests/test_browser.py) drive the same widgets in a real Chromium.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from cvat_nb import codecs
from cvat_nb.coco import Dataset
from cvat_nb.render import Frame, Renderer, Style, _grid, draw, rle_intervals
from cvat_nb.widgets import Compare, Previewer, compare_counts, match

@settings(max_examples=150, deadline=None)
@given(hnp.arrays(np.bool_, st.tuples(st.integers(1, 40), st.integers(1, 40))), st.integers(1, 40), st.integers(1, 40))
def test_masks_on_display_grid_are_exact_nearest_samples(m, hs, ws):
    "A mask mapped onto any display grid is exactly the full mask sampled at the grid's pixel centres."
    h, w = m.shape
    hs, ws = min(hs, h), min(ws, w)
    g = _grid(h, w, hs, ws)
    flat = np.zeros(hs * ws, bool)
    for lo, hi in rle_intervals(codecs.encode_mask(m), g).tolist(): flat[lo:hi] = True
    ys = np.minimum(((np.arange(hs) + 0.5) * h / hs).astype(int), h - 1)
    xs = np.minimum(((np.arange(ws) + 0.5) * w / ws).astype(int), w - 1)
    assert (flat.reshape(ws, hs).T == m[np.ix_(ys, xs)]).all()

def test_uncompressed_rle_draws_like_compressed():
    m = np.zeros((30, 50), np.uint8); m[5:20, 10:40] = 1
    rle = codecs.encode_mask(m)
    g = _grid(30, 50, 15, 25)
    assert (rle_intervals(rle, g) == rle_intervals(codecs.uncompress_rle(rle), g)).all()

def scene():
    ds = Dataset()
    i = ds.add_image("a.png", 80, 60)
    m = np.zeros((60, 80), np.uint8); m[10:40, 10:50] = 1
    ds.add_mask(i, "thing", m)
    ds.add_box(i, "thing", [50, 5, 20, 10], score=0.3)
    ds.add_polygon(i, "other", [60, 40, 75, 40, 75, 55, 60, 55])
    ds.add_category("person", keypoints=["a", "b", "c"], skeleton=[[1, 2], [2, 3]])
    ds.add_keypoints(i, "person", [[20, 50, 2], [30, 50, 1], [40, 50, 0]], bbox=[15, 45, 30, 10])
    img = np.full((60, 80, 3), 90, np.uint8)
    return ds, img

def test_draws_on_a_copy_and_every_layer_shows():
    ds, img = scene()
    keep = img.copy()
    f = Frame(img, ds.anns(1), width=None)
    cats = {c["id"]: c for c in ds.categories}
    full = draw(f, cats, Style(width=None))
    assert (img == keep).all() and full is not img
    for layer in ("masks", "boxes", "labels", "keypoints"):
        assert (draw(f, cats, Style(width=None, **{layer: False})) != full).any(), layer

def test_filters_and_score_threshold_hide_annotations():
    ds, img = scene()
    f, cats = Frame(img, ds.anns(1), width=None), {c["id"]: c for c in ds.categories}
    full = draw(f, cats, Style(width=None))
    assert (draw(f, cats, Style(width=None, score_threshold=0.5)) != full).any()
    assert (draw(f, cats, Style(width=None, categories=frozenset({2}))) != full).any()

def test_outside_keypoints_hidden_or_ghosted_and_crowd_hatched():
    ds, img = scene()
    f, cats = Frame(img, ds.anns(1), width=None), {c["id"]: c for c in ds.categories}
    assert (draw(f, cats, Style(width=None, outside="ghost")) != draw(f, cats, Style(width=None))).any()
    crowd = [dict(a) for a in ds.anns(1)]; crowd[0]["iscrowd"] = 1
    assert (draw(Frame(img, crowd, width=None), cats, Style(width=None)) != draw(f, cats, Style(width=None))).any()

def test_bad_annotations_are_warnings_on_the_picture(tmp_path):
    ds, img = scene()
    Image.fromarray(img[:50]).save(tmp_path / "a.png")  # another size than the dataset says
    anns = ds.annotations
    anns[0]["segmentation"] = {"size": [60, 80], "counts": "#!"}  # undecodable
    anns[2]["segmentation"] = {"size": [10, 10], "counts": [100]}  # the wrong size
    anns[3]["keypoints"] = [1, 2, 2]  # too short for three names
    r = Renderer(ds, tmp_path, Style(width=None))
    pic = r.render(1)  # draws, does not raise
    w = r.frame(1, None).warnings
    assert set(w) == {None, 1, 3}, w
    assert "60" in w[None] and "cannot be drawn" in w[1]
    assert pic.shape == (60, 80, 3)

def test_missing_image_draws_on_grey_with_a_warning(tmp_path):
    ds, _ = scene()
    r = Renderer(ds, tmp_path, Style(width=None))
    pic = r.render(1)
    assert pic.shape == (60, 80, 3) and "no such image file" in r.frame(1, None).warnings[None]

def test_callable_image_source_and_cache():
    ds, img = scene()
    calls = []
    r = Renderer(ds, lambda name: calls.append(name) or Image.fromarray(img), Style(width=40))
    a = r.render_bytes(1)
    b = r.render_bytes(1, opacity=0.9)
    assert calls == ["a.png"] and a != b and a[:2] == b"\xff\xd8"

def test_previewer_controls_change_the_picture():
    pv = Previewer("samples/coco/instances_default.json", "samples/images", width=320)
    seen = [pv.img.value]
    for act in (lambda: pv.step(1), lambda: setattr(pv.opacity, "value", 0.95),
                lambda: setattr(pv.cat_boxes[1], "value", False), lambda: setattr(pv.layers["boxes"], "value", False),
                lambda: pv._key({"key": "ArrowRight"})):
        act()
        assert pv.img.value not in seen
        seen.append(pv.img.value)
    bundle = pv._repr_mimebundle_()
    assert "image/jpeg" in bundle and "application/vnd.jupyter.widget-view+json" in bundle

def test_previewer_problem_filter():
    pv = Previewer("samples/coco/instances_default.json", "samples/images", width=320, problems={3})
    pv.filter.value = "with problems"
    assert pv.ids == [3] and "image 1 of 1" in pv.status.value

def test_match_and_compare():
    sent = Dataset.load("samples/coco/instances_default.json")
    back = sent.replace(annotations=[dict(a) for a in sent.annotations[1:]])
    back.annotations[0]["category_id"] = 3
    counts = compare_counts(sent, back)
    assert counts["car"] == {"missing": 1, "relabelled": 1, "matched": 6}
    assert compare_counts(sent, sent)["person"] == {"matched": 4}
    c = Compare(sent, back, "samples/images", width=200)
    c.mode.value = "overlaid"
    assert c.left.value and "relabelled" in c.info.value

def _still(c):
    import base64, io
    return Image.open(io.BytesIO(base64.b64decode(c._repr_mimebundle_()["image/jpeg"])))

def test_compare_matches_categories_by_name_when_cvat_renumbers():
    sent = Dataset.load("samples/coco/instances_default.json")
    # CVAT's export numbers categories itself: the same names under other ids
    back = sent.remap_categories({c["id"]: k for k, c in enumerate(reversed(sent.categories), 1)})
    assert [c["id"] for c in back.categories] != [c["id"] for c in sent.categories]
    counts = compare_counts(sent, back)
    assert all(set(v) == {"matched"} for v in counts.values()), counts
    assert counts == compare_counts(sent, sent)
    c = Compare(sent, back, "samples/images", width=200)
    assert "0 relabelled" in c.info.value
    # without names, ids are what there is to compare
    a = [{"category_id": 1, "bbox": [0, 0, 10, 10]}]
    b = [{"category_id": 2, "bbox": [0, 0, 10, 10]}]
    assert match(a, b, 20, 20)["pairs"] == {(0, 0): "relabelled"}
    assert match(a, b, 20, 20, names_a={1: "car"}, names_b={2: "car"})["pairs"] == {(0, 0): "matched"}
    assert match(a, b, 20, 20, names_a={1: "car"}, names_b={})["pairs"] == {(0, 0): "relabelled"}

def test_compare_still_shows_both_sides():
    sent = Dataset.load("samples/coco/instances_default.json")
    c = Compare(sent, sent, "samples/images", width=200)
    wide = _still(c)
    assert wide.width >= 2 * 200 and wide.height > c.ra.render(c.names[0]).shape[0]  # two pictures and captions
    left = np.asarray(Image.open(__import__("io").BytesIO(c.left.value)))
    assert wide.height - left.shape[0] < 40
    c.mode.value = "overlaid"
    assert _still(c).width < wide.width  # one overlaid picture

def test_previewer_finds_problem_images_itself_and_filters_by_score_range():
    ds = Dataset.load("samples/coco/instances_default.json")
    ds = ds.replace(annotations=[dict(a) for a in ds.annotations])
    ds.annotations[5]["segmentation"] = [[1, 2, 3, 4]]  # a polygon of 4 numbers, on image 2
    pv = Previewer(ds, "samples/images", width=320)
    pv.filter.value = "with problems"
    assert pv.ids == [2]
    pv.filter.value = "all images"
    before = pv.img.value
    pv.score.value = (0.65, 1.0)  # image 1's sign scores 0.6: hidden
    assert pv.img.value != before

def test_skeleton_colours_given_as_hex_or_rgb_draw_the_same():
    from cvat_nb.skeleton import Skeleton, add_poses
    hexed = Skeleton("person", ["nose", "tail"], [(1, 2)], colors={"nose": "#ff0000", "tail": "#0000FF"})
    tupled = Skeleton("person", ["nose", "tail"], [(1, 2)], colors={"nose": (255, 0, 0), "tail": (0, 0, 255)})
    assert hexed == tupled and hexed.rgb == {"nose": (255, 0, 0), "tail": (0, 0, 255)}
    assert hexed.cvat_label()["sublabels"][1]["color"] == "#0000ff"  # CVAT gets hex either way
    ds = Dataset()
    i = ds.add_image("a.jpg", 40, 30)
    add_poses(ds, i, hexed, [[[10, 10, 2], [30, 20, 2]]])
    img = np.full((30, 40, 3), 128, np.uint8)
    out = Renderer(ds, lambda name: img, Style(width=None, labels=False, boxes=False)).render(i, skeleton_colors=hexed.rgb)
    assert tuple(out[10, 10]) == (255, 0, 0) and tuple(out[20, 30]) == (0, 0, 255)
