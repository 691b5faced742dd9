"""Property tests of `cvat_nb.codecs`: every format in `codecs.FORMATS` round-trips and agrees with pycocotools.

Each property is checked on random inputs (hypothesis) and on the edge cases spelled out below."""
import math, os

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from pycocotools import mask as cocomask

from cvat_nb import codecs
from cvat_nb.errors import CodecError

# pycocotools 2.0.11 under numpy 2 warns on every decode; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
# CVAT_NB_EXAMPLES=5000 pytest tests/test_properties.py searches harder
SETTINGS = settings(max_examples=int(os.environ.get("CVAT_NB_EXAMPLES", 200)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------------------------
# Strategies

DTYPES = [np.bool_, np.uint8, np.uint16, np.int32, np.float32, np.float64]

def _nonzero_values(dtype):
    "Values of `dtype` that are non-zero, so inside the mask."
    dt = np.dtype(dtype)
    if dt == np.bool_: return st.just(True)
    if dt.kind == "u": return st.integers(1, int(np.iinfo(dt).max))
    if dt.kind == "i": return st.integers(int(np.iinfo(dt).min), int(np.iinfo(dt).max)).filter(bool)
    # floats: tiny, negative, huge, inf and NaN are all non-zero
    return st.one_of(st.sampled_from([1.0, 0.5, -1.0, 1e-30, np.inf, -np.inf, np.nan]),
                     st.floats(width=32).filter(lambda v: v != 0))

def _zero_value(dtype):
    dt = np.dtype(dtype)
    return st.sampled_from([0.0, -0.0]) if dt.kind == "f" else st.just(dt.type(0))

@st.composite
def shapes(draw, max_side=24):
    kind = draw(st.sampled_from(["any", "any", "any", "tall", "wide", "row", "col"]))
    if kind == "any": return draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    if kind == "tall": return draw(st.integers(25, 120)), draw(st.integers(1, 4))
    if kind == "wide": return draw(st.integers(1, 4)), draw(st.integers(25, 120))
    if kind == "row": return 1, draw(st.integers(1, 200))
    return draw(st.integers(1, 200)), 1

@st.composite
def patterns(draw, shape=None):
    "A boolean pattern: random, empty, full, one pixel, border pixels, sparse, rectangles or a frame with holes."
    h, w = shape or draw(shapes())
    kind = draw(st.sampled_from(["random", "random", "sparse", "empty", "full", "one", "border", "rects", "frame"]))
    if kind == "random": return draw(hnp.arrays(np.bool_, (h, w)))
    if kind == "sparse": return draw(hnp.arrays(np.uint8, (h, w), elements=st.integers(0, 7))) == 0
    if kind == "empty": return np.zeros((h, w), bool)
    if kind == "full": return np.ones((h, w), bool)
    m = np.zeros((h, w), bool)
    if kind == "one":
        r = draw(st.sampled_from([0, h - 1]) | st.integers(0, h - 1))
        c = draw(st.sampled_from([0, w - 1]) | st.integers(0, w - 1))
        m[r, c] = True
        return m
    if kind == "border":
        edge = np.ones((h, w), bool); edge[1:-1, 1:-1] = False
        return draw(hnp.arrays(np.bool_, (h, w))) & edge
    rects = draw(st.lists(st.tuples(st.integers(0, h - 1), st.integers(0, w - 1), st.integers(1, h),
                                    st.integers(1, w)), min_size=1, max_size=5))
    if kind == "frame": m[:] = True
    for r, c, dh, dw in rects: m[r:r + dh, c:c + dw] = kind == "rects"
    return m

@st.composite
def masks(draw):
    "A 2-D mask of any dtype (non-zero = inside), returned with its boolean pattern."
    pat = draw(patterns())
    dtype = draw(st.sampled_from(DTYPES))
    inside = draw(hnp.arrays(dtype, pat.shape, elements=_nonzero_values(dtype)))
    outside = draw(hnp.arrays(dtype, pat.shape, elements=_zero_value(dtype)))
    m = np.where(pat, inside, outside).astype(dtype)
    if draw(st.booleans()): m = np.asfortranarray(m)
    elif draw(st.booleans()) and min(m.shape) > 0:  # a non-contiguous view
        big = np.zeros((m.shape[0], 2 * m.shape[1]), dtype); big[:, ::2] = m; m = big[:, ::2]
    assert ((m != 0) == pat).all()
    return m, pat

# ---------------------------------------------------------------------------------------------------------------
# Independent oracles (numpy only)

def runs(pat):
    "COCO run lengths of a boolean pattern: column-major, starting with a run of 0s."
    flat = np.asarray(pat, bool).ravel(order="F")
    if flat.size == 0: return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    out = np.diff(bounds).tolist()
    return ([0] + out) if flat[0] else out

def tight_box(pat):
    ys, xs = np.nonzero(pat)
    if len(xs) == 0: return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]

def signed_area(flat):
    "Shoelace area; positive for a loop that turns clockwise on screen (y pointing down)."
    xy = np.asarray(flat, float).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2

def py_encode(pat):
    "pycocotools' own compressed RLE (bytes counts)."
    return cocomask.encode(np.asfortranarray(np.asarray(pat, np.uint8)))

EDGE_MASKS = {
    "1x1 empty": np.zeros((1, 1), np.uint8), "1x1 full": np.ones((1, 1), np.uint8),
    "empty": np.zeros((7, 5), bool), "full": np.ones((7, 5), bool),
    "top-left": np.eye(6, 9, dtype=np.uint8) * (np.arange(9) == 0),
    "bottom-right": np.pad(np.ones((1, 1), np.uint16), ((5, 0), (8, 0))),
    "border ring": np.pad(np.zeros((3, 4), np.float32), 1, constant_values=2.5),
    "1xN": (np.arange(50) % 3 == 0)[None, :].astype(np.uint8),
    "Nx1": (np.arange(50) % 4 != 1)[:, None].astype(np.float64),
    "tall": np.tile([[1], [0], [0]], (40, 2)).astype(np.int32),
    "wide": np.tile([1, 1, 0], (2, 40)).astype(bool),
    "checker": (np.add.outer(np.arange(6), np.arange(7)) % 2).astype(np.uint8),
    "nan is inside": np.array([[np.nan, 0.0], [-0.0, np.inf]]),
    "ring with island": np.pad(np.pad(np.pad(np.ones((1, 1)), 1), 1, constant_values=1), 1),
    "diagonal hole": np.array([[1, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1], [1, 1, 1, 1]], np.uint8),
    "long runs": np.pad(np.ones((300, 200), bool), ((0, 10), (0, 0))),
}

# ---------------------------------------------------------------------------------------------------------------
# Masks ↔ RLE

@pytest.mark.parametrize("name", list(EDGE_MASKS))
def test_encode_decode_edge_cases(name):
    m = EDGE_MASKS[name]
    pat = m != 0
    rle = codecs.encode_mask(m)
    assert rle["size"] == list(m.shape) and isinstance(rle["counts"], str)
    back = codecs.decode_rle(rle)
    assert back.dtype == np.uint8 and back.flags.c_contiguous
    np.testing.assert_array_equal(back, pat.astype(np.uint8))
    assert rle["counts"].encode() == py_encode(pat)["counts"]
    assert codecs.uncompress_rle(rle)["counts"] == runs(pat)

@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (4, 0)])
def test_zero_size_masks(shape):
    rle = codecs.encode_mask(np.zeros(shape, np.uint8))
    assert rle["size"] == list(shape)
    assert codecs.decode_rle(rle).shape == shape
    assert codecs.rle_area(rle) == 0.0 and codecs.rle_bbox(rle) == [0.0] * 4

@SETTINGS
@given(masks())
def test_encode_mask_decode_rle_round_trip(mp):
    m, pat = mp
    rle = codecs.encode_mask(m)
    assert rle["size"] == [int(s) for s in m.shape]
    assert isinstance(rle["counts"], str) and rle["counts"].isascii()
    back = codecs.decode_rle(rle)
    assert back.dtype == np.uint8 and back.shape == m.shape and back.flags.c_contiguous
    np.testing.assert_array_equal(back, pat.astype(np.uint8))

@SETTINGS
@given(masks())
def test_compressed_uncompressed_round_trip(mp):
    m, pat = mp
    rle = codecs.encode_mask(m)
    un = codecs.uncompress_rle(rle)
    assert un["size"] == rle["size"]
    assert un["counts"] == runs(pat)  # the plain runs, computed independently
    assert sum(un["counts"]) == m.size
    assert codecs.compress_rle(un) == rle
    assert codecs.compress_rle(rle) == rle  # compressed input comes back unchanged
    assert codecs.uncompress_rle(un) == un
    np.testing.assert_array_equal(codecs.decode_rle(un), pat.astype(np.uint8))
    # bytes counts, as pycocotools hands them out, are accepted too
    assert codecs.uncompress_rle({"size": rle["size"], "counts": rle["counts"].encode()}) == un

@SETTINGS
@given(masks())
def test_counts_strings_match_pycocotools(mp):
    m, pat = mp
    ours = codecs.encode_mask(m)
    py = py_encode(pat)
    assert ours["counts"].encode("ascii") == py["counts"]
    counts = runs(pat)
    assert codecs.rle_string_from_counts(counts) == py["counts"].decode("ascii")
    assert codecs.rle_counts_from_string(py["counts"].decode("ascii")) == counts
    h, w = pat.shape
    fr = cocomask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    assert codecs.rle_string_from_counts(counts).encode("ascii") == fr["counts"]
    assert codecs.compress_rle({"size": [h, w], "counts": counts})["counts"].encode("ascii") == fr["counts"]

@SETTINGS
@given(st.lists(st.integers(0, 2**26) | st.integers(0, 40), min_size=1, max_size=40))
@example([0]).via("no runs at all")
@example([0, 0, 0, 5]).via("empty runs in the middle")
@example([0, 2**31 - 1, 1, 2**31 - 1]).via("huge runs, negative differences")
def test_arbitrary_counts_match_frPyObjects(counts):
    "Any run lengths (empty runs, huge runs, runs shrinking or growing) pack as pycocotools packs them."
    n = sum(counts)
    assume(0 < n < 2**32)
    s = codecs.rle_string_from_counts(counts)
    assert codecs.rle_counts_from_string(s) == counts
    fr = cocomask.frPyObjects({"size": [n, 1], "counts": counts}, n, 1)
    assert s.encode("ascii") == fr["counts"]

@SETTINGS
@given(masks())
def test_rle_area_and_bbox(mp):
    m, pat = mp
    for rle in (codecs.encode_mask(m), codecs.uncompress_rle(codecs.encode_mask(m))):
        area = codecs.rle_area(rle)
        assert isinstance(area, float) and area == float(pat.sum())
        box = codecs.rle_bbox(rle)
        assert all(isinstance(v, float) for v in box)
        assert box == tight_box(pat)

# ---------------------------------------------------------------------------------------------------------------
# Polygons

def check_polygons_of(m):
    pat = np.asarray(m) != 0
    h, w = pat.shape
    polys = codecs.mask_to_polygons(m)
    assert isinstance(polys, codecs.Polygons)
    for p in polys.outer + polys.holes:
        assert len(p) % 2 == 0 and len(p) >= 8, p
        assert all(isinstance(v, float) and v == int(v) for v in p)
        xs, ys = p[0::2], p[1::2]
        assert min(xs) >= 0 and max(xs) <= w and min(ys) >= 0 and max(ys) <= h
        # edges along the pixel grid: each step changes x or y, never both
        xy = np.asarray(p).reshape(-1, 2)
        d = np.abs(np.roll(xy, -1, 0) - xy)
        assert ((d[:, 0] == 0) != (d[:, 1] == 0)).all(), p
    for p in polys.outer:
        a = signed_area(p)
        assert a > 0, p
        assert math.isclose(abs(a), codecs.polygon_area(p))
    for p in polys.holes:
        assert signed_area(p) < 0, p
    # geometric areas add up to the pixel count
    assert sum(signed_area(p) for p in polys.outer + polys.holes) == pat.sum()
    # rasterised: outer parts minus holes is the mask, pixel for pixel
    acc = np.zeros((h, w), int)
    for p in polys.outer: acc += codecs.polygons_to_mask([p], h, w)
    for p in polys.holes: acc -= codecs.polygons_to_mask([p], h, w)
    np.testing.assert_array_equal(acc, pat.astype(int))
    if not polys.holes:
        if polys.outer: np.testing.assert_array_equal(codecs.polygons_to_mask(polys.outer, h, w), pat.astype(np.uint8))
        else: assert not pat.any()
    return polys

@pytest.mark.parametrize("name", list(EDGE_MASKS))
def test_mask_to_polygons_edge_cases(name):
    check_polygons_of(EDGE_MASKS[name])

def test_mask_to_polygons_counts_pieces():
    assert codecs.mask_to_polygons(np.zeros((3, 3))) == ([], [])
    ring = EDGE_MASKS["ring with island"]
    polys = check_polygons_of(ring)
    assert (len(polys.outer), len(polys.holes)) == (2, 1)
    # diagonal neighbours are separate parts (4-connectivity)
    polys = check_polygons_of(np.eye(3))
    assert (len(polys.outer), len(polys.holes)) == (3, 0)

@SETTINGS
@given(masks())
def test_mask_to_polygons(mp):
    check_polygons_of(mp[0])

@SETTINGS
@given(st.integers(1, 40), st.integers(1, 40), st.data())
def test_polygons_to_rle_rectangles(h, w, data):
    x1 = data.draw(st.integers(0, w - 1)); x2 = data.draw(st.integers(x1 + 1, w))
    y1 = data.draw(st.integers(0, h - 1)); y2 = data.draw(st.integers(y1 + 1, h))
    expected = np.zeros((h, w), np.uint8); expected[y1:y2, x1:x2] = 1
    rect = [x1, y1, x2, y1, x2, y2, x1, y2]
    clockwise = data.draw(st.booleans())
    if not clockwise: rect = [x1, y1, x1, y2, x2, y2, x2, y1]
    start = data.draw(st.integers(0, 3))
    rect = rect[2 * start:] + rect[:2 * start]
    rle = codecs.polygons_to_rle([rect], h, w)
    assert rle["size"] == [h, w]
    np.testing.assert_array_equal(codecs.decode_rle(rle), expected)
    assert codecs.rle_area(rle) == (x2 - x1) * (y2 - y1) == codecs.polygon_area(rect)
    assert codecs.rle_bbox(rle) == [x1, y1, x2 - x1, y2 - y1]
    assert codecs.segmentation_area([rect], h, w) == (x2 - x1) * (y2 - y1)

def test_polygons_to_rle_empty_list():
    np.testing.assert_array_equal(codecs.polygons_to_mask([], 3, 4), np.zeros((3, 4), np.uint8))

# ---------------------------------------------------------------------------------------------------------------
# Keypoints

coords = st.floats(-1e6, 1e6, allow_nan=False) | st.integers(-5000, 5000)

@SETTINGS
@given(st.lists(st.tuples(coords, coords, st.sampled_from([0, 1, 2])), min_size=1, max_size=30))
def test_keypoints_round_trip(points):
    flat = codecs.keypoints_flat(points)
    assert len(flat) == 3 * len(points)
    assert all(type(v) is float for v in flat[0::3] + flat[1::3])
    assert all(type(v) is int for v in flat[2::3])
    assert flat == [float(v) if i % 3 < 2 else v for p in points for i, v in enumerate(p)]
    arr = codecs.keypoints_array(flat, n=len(points))
    assert arr.shape == (len(points), 3)
    np.testing.assert_array_equal(arr, np.asarray(points, float))
    assert codecs.keypoints_flat(arr) == flat
    assert codecs.num_keypoints(flat) == sum(v > 0 for _, _, v in points)
    # (n, 2) points with one visibility per point give the same list
    xy = [(x, y) for x, y, _ in points]
    assert codecs.keypoints_flat(xy, visibility=[v for *_, v in points]) == flat
    with pytest.raises(CodecError): codecs.keypoints_array(flat, n=len(points) + 1)

@SETTINGS
@given(st.lists(st.tuples(coords, coords), min_size=1, max_size=20), st.sampled_from([0, 1, 2]))
def test_keypoints_one_visibility(xy, v):
    flat = codecs.keypoints_flat(xy, visibility=v)
    assert flat[2::3] == [v] * len(xy)
    assert codecs.num_keypoints(flat) == (len(xy) if v else 0)

@pytest.mark.parametrize("bad", [[0, 0, 3], [0, 0, -1], [0, 0, 1.5], [0, 0], [1, 2, 2, 3]])
def test_keypoints_bad(bad):
    with pytest.raises(CodecError): codecs.keypoints_array(bad)

# ---------------------------------------------------------------------------------------------------------------
# Boxes

ints = st.integers(-10_000, 10_000)
reals = st.floats(-1e6, 1e6, allow_nan=False)

@SETTINGS
@given(st.lists(ints, min_size=4, max_size=4))
def test_box_conversions_are_inverses_on_integers(b):
    assert codecs.xywh_to_xyxy(codecs.xyxy_to_xywh(b)) == [float(v) for v in b]
    assert codecs.xyxy_to_xywh(codecs.xywh_to_xyxy(b)) == [float(v) for v in b]

@SETTINGS
@given(st.lists(reals, min_size=4, max_size=4))
def test_box_conversions_are_inverses_on_floats(b):
    for got in (codecs.xywh_to_xyxy(codecs.xyxy_to_xywh(b)), codecs.xyxy_to_xywh(codecs.xywh_to_xyxy(b))):
        assert all(math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-6) for u, v in zip(got, b))
    assert codecs.xywh_to_xyxy(b)[:2] == [float(b[0]), float(b[1])]

@SETTINGS
@given(st.tuples(reals, reals, st.floats(0, 1e6), st.floats(0, 1e6)), st.integers(1, 5000), st.integers(1, 5000))
def test_clip_bbox_stays_inside(box, h, w):
    c = codecs.clip_bbox(list(box), h, w)
    x1, y1, x2, y2 = codecs.xywh_to_xyxy(c)
    assert 0 <= x1 <= w and 0 <= y1 <= h and 0 <= x2 <= w and 0 <= y2 <= h
    assert c[2] >= 0 and c[3] >= 0
    assert codecs.bbox_inside(c, h, w, tol=0)
    assert codecs.clip_bbox(c, h, w) == c  # idempotent
    # the clipped box is the intersection with the image
    bx1, by1, bx2, by2 = codecs.xywh_to_xyxy(box)
    assert math.isclose(c[2], max(0.0, min(bx2, w) - max(bx1, 0)) if bx1 < w and bx2 > 0 else 0.0, abs_tol=1e-6)
    assert math.isclose(c[3], max(0.0, min(by2, h) - max(by1, 0)) if by1 < h and by2 > 0 else 0.0, abs_tol=1e-6)

@SETTINGS
@given(st.integers(1, 500), st.integers(1, 500), st.data())
def test_clip_bbox_keeps_boxes_inside(h, w, data):
    x = data.draw(st.integers(0, w - 1)); y = data.draw(st.integers(0, h - 1))
    b = [x, y, data.draw(st.integers(0, w - x)), data.draw(st.integers(0, h - y))]
    assert codecs.clip_bbox(b, h, w) == [float(v) for v in b]

# ---------------------------------------------------------------------------------------------------------------
# `validate`'s area tolerance: no warning for the areas tools really write, a warning for wrong ones

def _area_codes(seg, area, bbox):
    from cvat_nb.validate import validate
    d = {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 64}], "categories": [{"id": 1, "name": "c"}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": seg, "area": area,
                          "bbox": bbox}]}
    return set(validate(d).codes())

@SETTINGS
@given(st.integers(0, 30), st.integers(0, 30), st.integers(2, 30), st.integers(2, 30))
def test_area_tolerance_on_pixel_blocks(x, y, w, h):
    "A w×h block of pixels: traced along pixel edges or through pixel centres, its pixel count is a right area."
    edge = [float(v) for v in (x, y, x + w, y, x + w, y + h, x, y + h)]
    centre = [float(v) for v in (x, y, x + w - 1, y, x + w - 1, y + h - 1, x, y + h - 1)]
    for poly in (edge, centre):
        box = [poly[0], poly[1], poly[2] - poly[0], poly[5] - poly[1]]
        raster = float(cocomask.area(cocomask.merge(cocomask.frPyObjects([poly], 64, 64))))
        for area in (w * h, raster):
            assert "area-mismatch" not in _area_codes([poly], area, box), (poly, area)
        if poly is centre and min(w, h) < 3: continue  # a shape of a pixel or two: 0 may be what pycocotools writes
        for wrong in (0, 4 * w * h):  # forgotten, or in other units
            assert "area-mismatch" in _area_codes([poly], wrong, box), (poly, wrong)
    rle = codecs.encode_mask(np.pad(np.ones((h, w), np.uint8), ((y, 64 - y - h), (x, 64 - x - w))))
    assert "area-mismatch" not in _area_codes(rle, w * h, [x, y, w, h])
    assert "area-mismatch" in _area_codes(rle, w * h + 2 + 0.02 * w * h, [x, y, w, h])

def test_empty_masks_are_reported():
    assert "empty-mask" in _area_codes({"size": [64, 64], "counts": [64 * 64]}, 0, [0, 0, 1, 1])
    assert "empty-mask" in _area_codes([[1, 1, 2, 2, 3, 3]], 0, [1, 1, 2, 2])
    assert "empty-mask" not in _area_codes([[1, 1, 3, 1, 3, 3]], 2, [1, 1, 2, 2])
