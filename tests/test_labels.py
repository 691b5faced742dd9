"""Property tests of `cvat_nb.labels`: one-pass encoding of label maps, connected parts, and CVAT colour masks.

Every label of a random label map must come out exactly as pycocotools encodes `label_map == value` on its own:
the same compressed string, area and box, and it must decode back bit for bit."""
from __future__ import annotations
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from scipy import ndimage

from cvat_nb import codecs
from cvat_nb.errors import CvatNbError
from cvat_nb.labels import (MaskError, color_to_labels, encode_labels, label_boxes, read_color_mask,
                            read_label_map, read_labelmap, split_components)

# pycocotools 2.0.11 under numpy 2 warns on every decode; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
# CVAT_NB_EXAMPLES=5000 pytest tests/test_labels.py searches harder
SETTINGS = settings(max_examples=int(os.environ.get("CVAT_NB_EXAMPLES", 150)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EIGHT = np.ones((3, 3), bool)

# ---------------------------------------------------------------------------------------------------------------
# Strategies

@st.composite
def shapes(draw, max_side=64):
    kind = draw(st.sampled_from(["any", "any", "small", "row", "col", "one"]))
    if kind == "one": return 1, 1
    if kind == "row": return 1, draw(st.integers(1, max_side))
    if kind == "col": return draw(st.integers(1, max_side)), 1
    if kind == "small": return draw(st.integers(1, 6)), draw(st.integers(1, 6))
    return draw(st.integers(1, max_side)), draw(st.integers(1, max_side))

def _values(dtype, n):
    "Up to `n` distinct non-zero values of `dtype`, the largest one (255 / 65535) and 1 likely among them."
    top = int(np.iinfo(dtype).max)
    return st.lists(st.one_of(st.sampled_from([1, 2, top, top - 1]), st.integers(1, top)),
                    min_size=1, max_size=n, unique=True)

@st.composite
def label_maps(draw, dtypes=(np.uint8, np.uint16), max_side=64):
    "A label map: few or MANY labels, rectangles touching the borders, one label everywhere, all background..."
    dtype = draw(st.sampled_from(dtypes))
    h, w = draw(shapes(max_side))
    kind = draw(st.sampled_from(["few", "few", "many", "rects", "rects", "full", "background", "stripes",
                                 "drawn"]))
    top = int(np.iinfo(dtype).max)
    if kind == "background": return np.zeros((h, w), dtype)
    if kind == "full": return np.full((h, w), draw(st.sampled_from([1, top]) | st.integers(1, top)), dtype)
    if kind == "drawn":  # small enough for hypothesis to draw (and shrink) pixel by pixel
        vals = [0] + draw(_values(dtype, 4))
        return draw(hnp.arrays(dtype, (min(h, 12), min(w, 12)), elements=st.sampled_from(vals)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "many":  # nearly every pixel its own label (uint8: all 255 of them)
        hi = min(top, h * w + 1) if draw(st.booleans()) else top
        return rng.integers(0, hi, (h, w), endpoint=True).astype(dtype)
    vals = np.array([0, 0] + draw(_values(dtype, 6)), dtype)
    if kind == "few": return vals[rng.integers(0, len(vals), (h, w))]
    if kind == "stripes":
        axis = draw(st.integers(0, 1))
        line = vals[rng.integers(0, len(vals), h if axis == 0 else w)]
        return np.repeat(line[:, None], w, 1) if axis == 0 else np.repeat(line[None, :], h, 0)
    m = np.full((h, w), vals[rng.integers(0, len(vals))], dtype)
    for _ in range(draw(st.integers(1, 8))):  # rectangles, clipped at the borders so they touch them often
        y0, x0 = rng.integers(-h // 2, h, endpoint=True), rng.integers(-w // 2, w, endpoint=True)
        y1, x1 = y0 + rng.integers(1, h + 1), x0 + rng.integers(1, w + 1)
        m[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = vals[rng.integers(0, len(vals))]
    return m

EDGES = [np.array([[7]], np.uint8), np.array([[0]], np.uint16), np.array([[65535]], np.uint16),
         np.arange(1, 65, dtype=np.uint16)[None], np.arange(64, dtype=np.uint8)[:, None],
         np.full((64, 64), 255, np.uint8), np.zeros((64, 64), np.uint16),
         np.arange(64 * 64, dtype=np.uint16).reshape(64, 64),  # 4095 labels
         np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).T.copy(),
         np.pad(np.ones((3, 3), np.uint8), 1), np.pad(np.ones((3, 3), np.uint8) * 2, 1, constant_values=9),
         np.eye(5, dtype=np.uint8) * 3, np.eye(5, dtype=np.uint16)[::-1] * 40000]

def with_edges(*rest):
    "Every edge-case map as an explicit example, with `rest` as the other arguments."
    def deco(f):
        for m in EDGES: f = example(m, *rest)(f)
        return f
    return deco

# ---------------------------------------------------------------------------------------------------------------
# encode_labels

def _check_one(m, v, a):
    "`a` is what pycocotools gives for `m == v`: the same string, area, box, and it decodes back."
    want = codecs.encode_mask(m == v)
    assert a["segmentation"] == want, (v, a["segmentation"], want)
    assert isinstance(a["segmentation"]["counts"], str)
    assert a["area"] == float((m == v).sum()) and isinstance(a["area"], float)
    assert a["bbox"] == codecs.rle_bbox(a["segmentation"])
    assert all(isinstance(b, float) for b in a["bbox"])
    np.testing.assert_array_equal(codecs.decode_rle(a["segmentation"]), (m == v).astype(np.uint8))

@SETTINGS
@given(label_maps())
@with_edges()
def test_encode_labels_matches_pycocotools(m):
    out = encode_labels(m)
    assert set(out) == set(np.unique(m).tolist()) - {0}
    assert all(type(v) is int for v in out)
    for v, a in out.items(): _check_one(m, v, a)

@SETTINGS
@given(label_maps(max_side=32), st.lists(st.sampled_from([0, 1, 2, 254, 255, 65534, 65535]) | st.integers(0, 70000),
                                         max_size=4))
@with_edges([0, 1, 255])
def test_encode_labels_ignore(m, ignore):
    "`ignore=()` encodes the background too; any other set of values is just left out."
    every = encode_labels(m, ignore=())
    assert set(every) == set(np.unique(m).tolist())
    if 0 in every: _check_one(m, 0, every[0])
    ignore = set(ignore)
    out = encode_labels(m, ignore=tuple(ignore))
    assert out == {v: a for v, a in every.items() if v not in ignore}
    assert encode_labels(m, ignore=list(ignore)) == out  # any iterable of values

@SETTINGS
@given(label_maps(), st.sampled_from([(0,), (), (0, 1, 255)]))
@with_edges(())
def test_label_boxes_agree_with_encode_labels(m, ignore):
    boxes = label_boxes(m, ignore)
    enc = encode_labels(m, ignore)
    assert set(boxes) == set(enc)
    for v, b in boxes.items():
        assert all(type(x) is int for x in b), b
        assert [float(x) for x in b] == enc[v]["bbox"]

def test_encode_labels_refuses_non_2d():
    for bad in (np.zeros((2, 2, 3), np.uint8), np.zeros(4, np.uint8)):
        with pytest.raises(CvatNbError): encode_labels(bad)
        with pytest.raises(CvatNbError): label_boxes(bad)

def test_encode_labels_non_contiguous_views():
    "A transposed or strided view encodes as its own values, not its memory's."
    m = (np.arange(60, dtype=np.uint16).reshape(6, 10) % 7)
    for view in (m.T, m[::2, ::3], m[:, ::-1], np.asfortranarray(m)):
        out = encode_labels(view)
        assert set(out) == set(np.unique(view).tolist()) - {0}
        for v, a in out.items(): _check_one(np.ascontiguousarray(view), v, a)

# ---------------------------------------------------------------------------------------------------------------
# split_components

def _check_parts(m, inst, label_of, ignore=(0,), connectivity=8):
    struct = EIGHT if connectivity == 8 else None
    assert inst.shape == m.shape
    ids = sorted(label_of)
    assert ids == list(range(1, len(ids) + 1)), "part ids run 1..n"
    assert set(np.unique(inst).tolist()) - {0} == set(ids)
    background = np.isin(m, list(ignore))
    assert (inst[background] == 0).all() and (inst[~background] > 0).all(), "every labelled pixel is in one part"
    for k in ids:
        part = inst == k
        assert (m[part] == label_of[k]).all(), f"part {k} holds pixels of another label"
        assert ndimage.label(part, structure=struct)[1] == 1, f"part {k} is not {connectivity}-connected"
    for v in set(np.unique(m).tolist()) - set(ignore):  # as many parts as the label has components
        assert sum(1 for k in ids if label_of[k] == v) == ndimage.label(m == v, structure=struct)[1]
    # no two parts of one label touch: neighbours (8- or 4-) with the same label are in the same part
    steps = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    h, w = m.shape
    for dy, dx in steps:
        a = (slice(0, h - dy), slice(max(0, -dx), w - max(0, dx)))
        b = (slice(dy, h), slice(max(0, dx), w - max(0, -dx)))
        same = (m[a] == m[b]) & ~background[a]
        assert (inst[a][same] == inst[b][same]).all(), f"two parts of one label touch (step {dy, dx})"

@SETTINGS
@given(label_maps(max_side=48))
@with_edges()
def test_split_components(m):
    inst, label_of = split_components(m)
    _check_parts(m, inst, label_of)

@SETTINGS
@given(label_maps(max_side=24), st.sampled_from([4, 8]), st.sampled_from([(0,), (), (0, 1)]))
def test_split_components_connectivity_and_ignore(m, connectivity, ignore):
    inst, label_of = split_components(m, ignore=ignore, connectivity=connectivity)
    _check_parts(m, inst, label_of, ignore, connectivity)

def test_split_components_diagonal():
    "Pixels touching at a corner are one part with 8-connectivity, two with 4."
    m = np.array([[1, 0], [0, 1]], np.uint8)
    assert split_components(m)[1] == {1: 1}
    inst, label_of = split_components(m, connectivity=4)
    assert label_of == {1: 1, 2: 1} and inst[0, 0] != inst[1, 1]

# ---------------------------------------------------------------------------------------------------------------
# colour masks

@st.composite
def palettes(draw):
    "`{label value: (r, g, b)}` of distinct colours (python ints), with or without a background colour."
    n = draw(st.integers(1, 12))
    colours = draw(st.lists(st.tuples(*[st.integers(0, 255)] * 3), min_size=n, max_size=n, unique=True))
    values = draw(st.lists(st.integers(1, 65534), min_size=n, max_size=n, unique=True))
    if draw(st.booleans()): values[0] = 0
    return dict(zip(values, colours))

@SETTINGS
@given(palettes(), shapes(max_side=40), st.integers(0, 2**32 - 1))
def test_color_to_labels_maps_back(colors, shape, seed):
    vals = np.array(sorted(colors), np.uint16)
    lab = vals[np.random.default_rng(seed).integers(0, len(vals), shape)]
    rgb = np.array([colors[v] for v in lab.ravel().tolist()], np.uint8).reshape(*shape, 3)
    out = color_to_labels(rgb, colors, source="masks/x.png")
    assert out.shape == shape
    np.testing.assert_array_equal(out, lab)

@SETTINGS
@given(palettes(), shapes(max_side=24), st.integers(0, 2**32 - 1), st.tuples(*[st.integers(0, 255)] * 3),
       st.sampled_from(["masks/sub/x.png", "a b/ünïcode.png"]))
def test_color_to_labels_unknown_colour(colors, shape, seed, extra, source):
    if extra in colors.values(): colors = {v: c for v, c in colors.items() if c != extra} or {1: (1, 2, 3)}
    if extra in colors.values(): return
    rng = np.random.default_rng(seed)
    vals = sorted(colors)
    rgb = np.array([colors[vals[i]] for i in rng.integers(0, len(vals), shape[0] * shape[1])], np.uint8)
    rgb = rgb.reshape(*shape, 3)
    bad = rng.random(shape) < 0.3
    bad.flat[rng.integers(0, bad.size)] = True
    rgb[bad] = extra
    with pytest.raises(MaskError) as ei: color_to_labels(rgb, colors, source=source)
    msg = str(ei.value)
    assert ei.value.file == source and msg.startswith(f"{source}: ") and "\n" not in msg
    assert f"{int(bad.sum())} pixels in 1 colour(s)" in msg and "({},{},{})".format(*extra) in msg

def test_color_to_labels_many_unknown_colours_shown_briefly():
    rgb = np.arange(8 * 3, dtype=np.uint8).reshape(1, 8, 3)
    with pytest.raises(MaskError) as ei: color_to_labels(rgb, {1: (255, 255, 255)}, source="m.png")
    assert "8 colour(s)" in str(ei.value) and str(ei.value).endswith(" ...")

# ---------------------------------------------------------------------------------------------------------------
# reading files

@pytest.mark.parametrize("kind", ["L", "I;16", "P", "1"])
def test_read_label_map_roundtrip(tmp_path, kind):
    rng = np.random.default_rng(3)
    if kind == "I;16": a = rng.integers(0, 65535, (7, 9), endpoint=True).astype(np.uint16)
    elif kind == "1": a = (rng.random((7, 9)) < 0.5).astype(np.uint8)
    else: a = rng.integers(0, 255, (7, 9), endpoint=True).astype(np.uint8)
    im = Image.fromarray(a.astype(bool) if kind == "1" else a)
    if kind == "P":
        im = Image.frombytes("P", (a.shape[1], a.shape[0]), a.tobytes())
        im.putpalette([c for i in range(256) for c in (i, 255 - i, i // 2)])
    im.save(tmp_path / "m.png")
    got = read_label_map(tmp_path / "m.png")
    assert got.ndim == 2
    np.testing.assert_array_equal(got, a)

def test_read_label_map_refuses_colour(tmp_path):
    Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(MaskError) as ei: read_label_map(tmp_path / "rgb.png")
    assert "rgb.png" in str(ei.value) and "RGB" in str(ei.value) and "labelmap" in str(ei.value)

def test_read_color_mask_and_labelmap(tmp_path):
    (tmp_path / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
                                           "car:255,0,0::\nperson:0,128,255::\n")
    lm = read_labelmap(tmp_path / "labelmap.txt")
    assert lm == {"background": (0, 0, 0), "car": (255, 0, 0), "person": (0, 128, 255)}
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 1] = (255, 0, 0, 7)
    rgba[1, 2] = (0, 128, 255, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "c.png")
    rgb = read_color_mask(tmp_path / "c.png")
    assert rgb.shape == (2, 3, 3)
    lab = color_to_labels(rgb, {0: lm["background"], 1: lm["car"], 2: lm["person"]})
    np.testing.assert_array_equal(lab, [[0, 1, 0], [0, 0, 2]])

@pytest.mark.parametrize("text,says", [("car 255,0,0\n", "is not 'name:r,g,b::'"), ("car:1,2::\n", "line 1"),
                                       ("a:1,2,3::\na:4,5,6::\n", "listed twice"), ("# only\n\n", "holds no labels"),
                                       ("car:1,2,300::\n", "is not")])
def test_read_labelmap_errors(tmp_path, text, says):
    (tmp_path / "labelmap.txt").write_text(text)
    with pytest.raises(MaskError) as ei: read_labelmap(tmp_path / "labelmap.txt")
    assert "labelmap.txt" in str(ei.value) and says in str(ei.value) and "\n" not in str(ei.value)
