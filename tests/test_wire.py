"""The grader reads whatever the sandboxed learner process writes: no frame may hang it, bloat it or carry
anything but numbers, strings and their nesting, and honest values must come back with their exact types."""

from __future__ import annotations

import io
import json
import math
import struct
import tracemalloc

import numpy as np
import pytest

from gradcourse.scoring import wire
from gradcourse.scoring.wire import WireError

HEADER_ROOM = 1024  # forged headers are padded to this size (JSON allows trailing spaces), so data starts here
START = 4 + HEADER_ROOM


def forge(tree, arrays=(), data: bytes = b"", header: bytes | None = None, room: int = HEADER_ROOM) -> bytes:
    """A payload written by hand, as a hostile sender could."""
    text = json.dumps({"tree": tree, "arrays": list(arrays)}).encode() if header is None else header
    assert len(text) <= room
    return struct.pack(">I", room) + text.ljust(room) + data


def entry(dtype="<f8", shape=(1,), offset=START, nbytes=8) -> dict:
    return {"dtype": dtype, "shape": list(shape), "offset": offset, "nbytes": nbytes}


ARRAY = {"a": 0, "scalar": False}


def same(a, b) -> bool:
    """Equal values of exactly the same types, all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and (a == b or (a != a and b != b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, slice):
        return same((a.start, a.stop, a.step), (b.start, b.stop, b.step))
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def round_trip(obj):
    stream = io.BytesIO()
    wire.write_frame(stream, obj)
    stream.seek(0)
    return wire.read_frame(stream)


# -- honest values ----------------------------------------------------------------------------------------------
VALUES = [
    None, True, False, 0, -7, 2**100, 1.5, -0.0, float("nan"), float("inf"), "", "texto en español: ñ, é, 😀",
    "lone \ud800 surrogate", 1 + 2j, complex(float("nan"), -1), Ellipsis,
    slice(None), slice(1, None, -1), slice(None, 3, np.int64(2)),
    np.float64(1.25), np.float32(0.1), np.int8(-3), np.uint64(2**64 - 1), np.bool_(True), np.complex64(1 - 1j),
    np.array(3.0), np.array(5, dtype=np.int16), np.array([]), np.zeros((0, 3)), np.arange(24.0).reshape(2, 3, 4),
    np.arange(12).reshape(3, 4).T, np.arange(10)[::3],
    (1, (2.0, [3, {"k": (np.int32(4),)}])), [], (), {}, [[[]]], {"nested": {"deeper": [None, (Ellipsis,)]}},
    {"ok": True, "result": np.ones(3), "args_after": [np.eye(2), {"grads": [np.zeros(2), np.ones((1, 1))]}]},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_every_node_kind_round_trips_with_its_exact_type(value):
    assert same(round_trip(value), value)


def test_scalars_and_zero_d_arrays_stay_what_they_were():
    got = round_trip([1, True, 1.0, np.int64(1), np.float64(1.0), np.array(1.0), (1,), [1]])
    assert [type(x) for x in got] == [int, bool, float, np.int64, np.float64, np.ndarray, tuple, list]
    assert got[5].shape == ()


@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                                   "float16", "float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (1, 2, 1, 2)])
def test_every_allowed_dtype_round_trips_writeable_and_owning_its_memory(dtype, shape):
    arr = (np.arange(math.prod(shape)) % 7).astype(dtype).reshape(shape)
    got = round_trip(arr)
    assert same(got, arr)
    assert got.flags.writeable and got.flags.owndata


@pytest.mark.parametrize("dtype", [">f8", ">i4", ">c16", ">u2"])
def test_big_endian_arrays_arrive_little_endian_with_their_values(dtype):
    arr = np.array([[1.5, -2.0], [3.0, 250.0]]).astype(dtype)
    got = round_trip(arr)
    assert got.dtype == np.dtype(dtype).newbyteorder("=") and got.dtype.isnative
    assert np.array_equal(got, arr)
    scalar = round_trip(arr[0, 1])
    assert type(scalar) is type(arr[0, 1]) and scalar == arr[0, 1]


def test_the_bytes_on_the_wire_are_the_documented_format():
    stream = io.BytesIO()
    wire.write_frame(stream, (np.array([1.0, 2.0], dtype=">f8"), 7))
    frame = stream.getvalue()
    (size,) = struct.unpack(">I", frame[:4])
    payload = frame[4:]
    assert size == len(payload)
    (header_size,) = struct.unpack(">I", payload[:4])
    header = json.loads(payload[4:4 + header_size].decode("utf-8"))
    assert header["tree"] == {"seq": [{"a": 0, "scalar": False}, {"v": 7}], "tuple": True}
    assert header["arrays"] == [{"dtype": "<f8", "shape": [2], "offset": 4 + header_size, "nbytes": 16}]
    assert payload[4 + header_size:] == np.array([1.0, 2.0], dtype="<f8").tobytes()
    assert b"PK" not in frame[:8]  # no zip archive any more


def test_a_forged_payload_of_the_documented_format_is_read():
    """The helper below writes valid frames, so what the other tests refuse is refused for their one fault."""
    got = wire.decode(forge(ARRAY, [entry(shape=(2,), nbytes=16)], np.array([1.0, 2.0]).tobytes()))
    assert same(got, np.array([1.0, 2.0]))


def test_short_reads_from_a_raw_pipe_are_put_together():
    class Trickle(io.RawIOBase):
        def __init__(self, data):
            self.data = data

        def read(self, n=-1):
            piece, self.data = self.data[:1], self.data[1:]
            return piece

    frame = io.BytesIO()
    wire.write_frame(frame, {"x": np.arange(5.0)})
    assert same(wire.read_frame(Trickle(frame.getvalue())), {"x": np.arange(5.0)})


def test_a_closed_channel_is_eof():
    with pytest.raises(EOFError):
        wire.read_frame(io.BytesIO(b""))
    frame = io.BytesIO()
    wire.write_frame(frame, [1, 2, 3])
    with pytest.raises(EOFError):
        wire.read_frame(io.BytesIO(frame.getvalue()[:-1]))


# -- what the sender may not send -------------------------------------------------------------------------------
class Thing:
    pass


@pytest.mark.parametrize("value", [
    np.array(["a"]), np.array([object()]), np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
    np.zeros(2, dtype="V8"), np.array(["2020-01-01"], dtype="datetime64[D]"), np.str_("x"), np.array([b"x"]),
    {1: 2}, {("a",): 1}, Thing(), {1, 2}, b"bytes", print,
], ids=lambda v: getattr(v, "dtype", type(v).__name__).__str__())
def test_non_numeric_values_are_refused_by_the_encoder(value):
    with pytest.raises(WireError):
        wire.encode(value)


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="long double is float64 here")
def test_extended_precision_is_refused_rather_than_sent_as_an_unlisted_dtype():
    with pytest.raises(WireError):
        wire.encode(np.ones(2, dtype=np.longdouble))


def test_values_nested_too_deep_or_circular_are_refused_not_a_recursion_error():
    deep: list = [1]  # the root is at depth 0, so its 1 is at MAX_DEPTH + 1
    for _ in range(wire.MAX_DEPTH):
        deep = [deep]
    with pytest.raises(WireError):
        wire.encode(deep)
    loop: list = []
    loop.append(loop)
    with pytest.raises(WireError):
        wire.encode(loop)
    fine: list = [1]
    for _ in range(wire.MAX_DEPTH - 1):
        fine = [fine]
    assert same(round_trip(fine), fine)


def test_write_frame_refuses_a_large_answer_before_writing_a_byte_and_the_channel_stays_in_step():
    """As runner.py does: a refused reply is followed by an error reply the grader can read."""
    answer = np.zeros(9 * 10**6)  # 72 MB: honest-looking, wrong, and far too large
    stream = io.BytesIO()
    tracemalloc.start()
    try:
        with pytest.raises(WireError, match="too large"):
            wire.write_frame(stream, {"ok": True, "result": answer})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stream.getvalue() == b""
    assert peak < 1024**2  # refused on its declared size, before anything was copied
    wire.write_frame(stream, {"ok": False, "error": "the result cannot be returned"})
    stream.seek(0)
    assert wire.read_frame(stream) == {"ok": False, "error": "the result cannot be returned"}


def test_a_long_python_list_is_refused_for_its_header_size():
    with pytest.raises(WireError, match="too large"):
        wire.encode([0.5] * (wire.MAX_HEADER // 4))
    assert same(round_trip(np.full(wire.MAX_HEADER // 4, 0.5)), np.full(wire.MAX_HEADER // 4, 0.5))


def test_encode_and_decode_take_a_smaller_limit():
    payload = wire.encode(np.zeros(100))
    with pytest.raises(WireError):
        wire.encode(np.zeros(100), max_bytes=len(payload) - 1)
    with pytest.raises(WireError):
        wire.decode(payload, max_bytes=len(payload) - 1)
    assert same(wire.decode(payload, max_bytes=len(payload)), np.zeros(100))


# -- what the reader refuses ------------------------------------------------------------------------------------
class FourBytesOnly(io.RawIOBase):
    """A stream announcing a frame; any attempt to read its payload fails the test."""

    def __init__(self, size: int):
        self.head, self.reads = struct.pack(">I", size), []

    def read(self, n=-1):
        self.reads.append(n)
        if len(self.reads) > 1 or n > 4:
            pytest.fail(f"read({n}) after the length was known to be too large")
        return self.head


@pytest.mark.parametrize("size", [2**31, 2**32 - 1, wire.MAX_FRAME + 1])
def test_an_oversized_frame_is_refused_from_its_length_alone(size):
    stream = FourBytesOnly(size)
    with pytest.raises(WireError):
        wire.read_frame(stream)
    assert stream.reads == [4]


def test_read_frame_takes_a_smaller_limit():
    with pytest.raises(WireError):
        wire.read_frame(FourBytesOnly(1000), max_bytes=999)


@pytest.mark.parametrize("nbytes", [8, 8 * 10**9])
def test_a_billion_element_shape_over_eight_bytes_is_refused_without_allocating(nbytes):
    payload = forge(ARRAY, [entry(shape=(10**9,), nbytes=nbytes)], bytes(8))
    tracemalloc.start()
    try:
        with pytest.raises(WireError):
            wire.decode(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024**2


@pytest.mark.parametrize("arrays, data", [
    pytest.param([entry(shape=(2,), nbytes=8)], bytes(8), id="nbytes-below-shape"),
    pytest.param([entry(shape=(1,), nbytes=16)], bytes(16), id="nbytes-above-shape"),
    pytest.param([entry(dtype="<f4", shape=(1,), nbytes=8)], bytes(8), id="nbytes-not-itemsize"),
    pytest.param([entry(shape=(1,), nbytes=8.0)], bytes(8), id="nbytes-float"),
    pytest.param([entry(shape=(1,), nbytes=-8)], bytes(8), id="nbytes-negative"),
    pytest.param([entry(offset=4)], bytes(8), id="offset-in-header"),
    pytest.param([entry(offset=0)], bytes(8), id="offset-zero"),
    pytest.param([entry(offset=START + 8)], bytes(16), id="offset-after-gap"),
    pytest.param([entry(offset=START + 100)], bytes(8), id="offset-past-end"),
    pytest.param([entry(offset=-1)], bytes(8), id="offset-negative"),
    pytest.param([entry(offset=float(START))], bytes(8), id="offset-float"),
    pytest.param([entry(), entry()], bytes(8), id="same-bytes-twice"),
    pytest.param([entry(shape=(2,), nbytes=16), entry(offset=START + 8)], bytes(24), id="overlapping"),
    pytest.param([entry(shape=(2,), nbytes=16)], bytes(8), id="data-missing"),
    pytest.param([entry()], bytes(9), id="bytes-after-last-array"),
    pytest.param([], bytes(8), id="undeclared-bytes"),
])
def test_array_layouts_that_do_not_match_the_bytes_are_refused(arrays, data):
    with pytest.raises(WireError):
        wire.decode(forge(ARRAY, arrays, data))


@pytest.mark.parametrize("dtype", [
    "O", "|O", "<O", "V8", "|V8", "<U4", "|S8", "<M8[ns]", "<m8[s]", ">f8", ">i8", "=f8", "f8", "float64", "d",
    "<f16", "<c32", "[('a', '<f8')]", "{'names': ['a'], 'formats': ['<f8']}", [["a", "<f8"]], {"a": "<f8"}, 8, None,
])
def test_dtypes_outside_the_allowlist_are_refused(dtype):
    with pytest.raises(WireError):
        wire.decode(forge(ARRAY, [entry(dtype=dtype)], bytes(8)))


@pytest.mark.parametrize("shape", [[-1, -8], [1.0], [True], ["1"], [None], "1", 1, {"0": 1}, [1] * 33])
def test_bad_shapes_are_refused(shape):
    item = entry()
    item["shape"] = shape
    with pytest.raises(WireError):
        wire.decode(forge(ARRAY, [item], bytes(8)))


def one_array_header(shape="1", offset=START, nbytes="8") -> bytes:
    return (f'{{"tree": {{"a": 0, "scalar": false}}, "arrays": [{{"dtype": "<f8", "shape": [{shape}], '
            f'"offset": {offset}, "nbytes": {nbytes}}}]}}').encode()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_only_floats(constant):
    assert same(wire.decode(forge(None, data=bytes(8), header=one_array_header())), np.zeros(1))
    for bad in ({"shape": constant}, {"offset": constant}, {"nbytes": constant}):
        with pytest.raises(WireError):
            wire.decode(forge(None, data=bytes(8), header=one_array_header(**bad)))
    value = wire.decode(forge(None, header=f'{{"tree": {{"v": {constant}}}, "arrays": []}}'.encode()))
    assert type(value) is float and not math.isfinite(value)


@pytest.mark.parametrize("tree", [
    {"v": [1]}, {"v": {"a": 1}}, {"v": 1, "x": 2}, {}, [], "v", None,
    {"a": 1, "scalar": False}, {"a": -1, "scalar": False}, {"a": True, "scalar": False}, {"a": 0.0, "scalar": False},
    {"a": 0}, {"a": 0, "scalar": 1}, {"a": 0, "scalar": True},  # scalar flag on a shaped array
    {"complex": [1.0]}, {"complex": ["1", 2.0]}, {"complex": [1.0, None]}, {"complex": 1.0},
    {"slice": [{"v": None}]}, {"slice": {"v": None}}, {"seq": [], "tuple": "yes"}, {"seq": {}, "tuple": False},
    {"seq": [{"x": 1}], "tuple": False}, {"map": []}, {"map": {"k": 1}}, {"unknown": True},
])
def test_malformed_trees_are_refused(tree):
    with pytest.raises(WireError):
        wire.decode(forge(tree, [entry()], bytes(8)))


def nested_lists(depth: int) -> bytes:
    """A payload of `depth` lists, one inside the other."""
    tree = '{"seq": [' * depth + "]" + ', "tuple": false}]' * (depth - 1) + ', "tuple": false}'
    header = f'{{"arrays": [], "tree": {tree}}}'.encode()
    return struct.pack(">I", len(header)) + header


@pytest.mark.parametrize("depth", [wire.MAX_DEPTH + 2, 500, 10_000, 100_000])
def test_deeply_nested_headers_are_a_wire_error_not_a_recursion_error(depth):
    deepest = wire.decode(nested_lists(wire.MAX_DEPTH + 1))  # its innermost list is at MAX_DEPTH
    for _ in range(wire.MAX_DEPTH):
        (deepest,) = deepest
    assert deepest == []
    with pytest.raises(WireError):
        wire.decode(nested_lists(depth))
    raw = b"[" * depth + b"]" * depth  # plain JSON nesting, refused by the parser's own limit
    with pytest.raises(WireError):
        wire.decode(struct.pack(">I", len(raw)) + raw)


@pytest.mark.parametrize("payload", [
    pytest.param(b"", id="empty"),
    pytest.param(b"\x00\x00", id="no-header-length"),
    pytest.param(struct.pack(">I", 10) + b"{}", id="header-past-end"),
    pytest.param(struct.pack(">I", 2) + b"\xff\xfe", id="not-utf8"),
    pytest.param(struct.pack(">I", 6) + b"{nope", id="not-json"),
    pytest.param(struct.pack(">I", 4) + b"null", id="not-an-object"),
    pytest.param(struct.pack(">I", 2) + b"[]", id="a-list"),
    pytest.param(forge(None, header=b'{"tree": {"v": 1}}'), id="no-arrays"),
    pytest.param(forge(None, header=b'{"tree": {"v": 1}, "arrays": [], "extra": 1}'), id="extra-key"),
    pytest.param(forge(None, header=b'{"tree": {"v": 1}, "arrays": {}}'), id="arrays-not-a-list"),
    pytest.param(forge(None, header=b'{"tree": {"v": 1'), id="cut-short"),
    pytest.param(forge(None, header=b'{"tree": {"v": ' + b"9" * 5000 + b'}, "arrays": []}', room=6000),
                 id="int-too-long-for-python"),
])
def test_malformed_headers_are_refused(payload):
    with pytest.raises(WireError):
        wire.decode(payload)


def test_a_header_over_its_budget_is_refused():
    def text_of(size: int) -> bytes:
        skeleton = b'{"tree": {"v": ""}, "arrays": []}'
        return skeleton.replace(b'""', b'"' + b"a" * (size - len(skeleton)) + b'"')

    fits = text_of(wire.MAX_HEADER)
    assert set(wire.decode(struct.pack(">I", len(fits)) + fits)) == {"a"}
    over = text_of(wire.MAX_HEADER + 1)
    with pytest.raises(WireError):
        wire.decode(struct.pack(">I", len(over)) + over)


def test_a_frame_at_the_limit_is_read_in_bounded_memory():
    n = (wire.MAX_FRAME - 1024) // 8
    stream = io.BytesIO()
    wire.write_frame(stream, {"ok": True, "result": np.ones(n)})
    frame = stream.getvalue()
    assert wire.MAX_FRAME - 1024 < len(frame) - 4 <= wire.MAX_FRAME
    stream.seek(0)
    tracemalloc.start()
    try:
        got = wire.read_frame(stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got["result"].shape == (n,) and got["result"][-1] == 1.0
    assert got["result"].nbytes <= peak < 3 * (len(frame) - 4)


def test_one_array_named_many_times_is_made_once():
    size, room = 1024**2, 1024**2
    tree = {"seq": [{"a": 0, "scalar": False}] * 20_000, "tuple": False}
    payload = forge(tree, [entry(shape=(size // 8,), offset=4 + room, nbytes=size)], bytes(size), room=room)
    tracemalloc.start()
    try:
        got = wire.decode(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(got) == 20_000 and all(x is got[0] for x in got)
    assert peak < 3 * len(payload)


def test_through_the_sandbox_a_too_large_answer_is_an_error_and_the_next_call_still_works():
    """runner.py's fallback: the refused reply was never started, so its error reply is read in step."""
    from gradcourse.scoring.session import LearnerProcess

    source = "import numpy as np\ndef big(n):\n    return np.zeros(n)\ndef pages(n):\n    return np.ones(n, np.uint8)\n"
    with LearnerProcess(call_seconds=20) as learner:
        assert learner.run_cell("1", source).ok
        with pytest.raises(Exception, match="too large") as refused:
            learner.function("big")(9 * 10**6)
        assert not isinstance(refused.value, WireError)  # the learner's error, reported; the grader read it fine
        with pytest.raises(Exception, match="too large"):
            learner.function("pages")(wire.MAX_FRAME)
        assert same(learner.function("big")(3), np.zeros(3))
        assert learner.restarts == 0
