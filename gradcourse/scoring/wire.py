"""The message format between the trusted grader and the sandboxed learner process.

A frame is a 4-byte big-endian payload length, then the payload: a 4-byte big-endian header length, a UTF-8
JSON header, and the raw little-endian bytes of every array, back to back in header order. The header is
``{"tree": ..., "arrays": [{"dtype", "shape", "offset", "nbytes"}, ...]}``; ``offset`` counts from the start
of the payload. There is no zip, no compression and no pickle, so what a frame costs its reader is bounded by
its length: the length is checked before the payload is read, and every declared dtype, shape and offset is
checked against the bytes actually there before an array is made. Whatever the learner's code
builds, only numbers, strings and their nesting come back.

This file is copied into the sandbox and must import nothing but the standard library and NumPy.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

# A lab's inputs are at most a few thousand floats (tens of KiB) and an answer has their shape. 16 MiB is two
# million float64, far above any answer a check expects, and keeps a reader's cost per frame near 2 x 16 MiB
# (the payload plus the arrays copied out of it).
MAX_FRAME = 16 * 1024**2
# The header is parsed into Python objects, up to ~25 times its size (`[{"v":0},...]`: 100 MiB for 4 MiB), so
# it has a smaller budget: a call's description tree is hundreds of bytes, a cell's outputs are capped by
# shell.py at 1 Mi characters per stream (plus any figures).
MAX_HEADER = 4 * 1024**2
MAX_DEPTH = 100  # nesting of the description tree: far below the interpreter's recursion limit
MAX_NDIM = 32  # NumPy's own limit was 32 until 2.0
NUMERIC_KINDS = "biufc"
_LENGTH = struct.Struct(">I")
# The only dtypes a frame may declare, spelled as the encoder writes them: little-endian ("<f8") or, for one
# byte, byte-order free ("|u1"). No object, string, structured, void or datetime arrays.
DTYPES = {d.str: d for d in (np.dtype(name).newbyteorder("<") for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128"))}
_PLAIN = (bool, str, int, float)
# Learner strings may hold lone surrogates (e.g. a print of "\ud800"); they cross unchanged, as they did when
# the header was ASCII JSON.
_TEXT = ("utf-8", "surrogatepass")


class WireError(ValueError):
    pass


# -- encoding -------------------------------------------------------------------------------------------------
def _pack(obj, arrays: list, depth: int = 0):
    if depth > MAX_DEPTH:
        raise WireError(f"cannot send values nested more than {MAX_DEPTH} deep")
    # Plain Python values keep their type (code tests `isinstance(axis, int)`); exact types only, so a subclass
    # with surprising methods is turned into plain numbers below instead.
    if obj is None or type(obj) in _PLAIN:
        return {"v": obj}
    if type(obj) is complex:
        return {"complex": [obj.real, obj.imag]}
    if obj is Ellipsis:
        return {"ellipsis": True}
    if type(obj) is slice:
        return {"slice": [_pack(part, arrays, depth + 1) for part in (obj.start, obj.stop, obj.step)]}
    if isinstance(obj, (int, float, complex, np.generic, np.ndarray)):
        arr = np.asarray(obj)
        if arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.newbyteorder("<").str not in DTYPES:
            raise WireError(f"array of dtype {arr.dtype} is not numeric or cannot be sent")
        arrays.append(arr.astype(arr.dtype.newbyteorder("<"), copy=False))  # little-endian on the wire
        return {"a": len(arrays) - 1, "scalar": not isinstance(obj, np.ndarray)}
    if isinstance(obj, (tuple, list)):
        return {"seq": [_pack(x, arrays, depth + 1) for x in obj], "tuple": isinstance(obj, tuple)}
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {"map": {k: _pack(v, arrays, depth + 1) for k, v in obj.items()}}
    raise WireError(f"cannot send a {type(obj).__name__}")


def _header(tree: str, arrays: list) -> bytes:
    # Offsets count from the start of the payload, so they depend on the header's own length. That length only
    # grows with the offsets' digits, so trying again from the last length settles in a few rounds.
    size = 0
    while True:
        offset, entries = _LENGTH.size + size, []
        for a in arrays:
            entries.append({"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes})
            offset += a.nbytes
        header = f'{{"arrays": {json.dumps(entries)}, "tree": {tree}}}'.encode(*_TEXT)
        if len(header) == size:
            return header
        size = len(header)


def _parts(obj, max_bytes: int) -> list:
    """The payload in pieces, refused before any array is copied if it is over ``max_bytes``."""
    arrays: list = []
    try:
        tree = json.dumps(_pack(obj, arrays), ensure_ascii=False)
    except ValueError as exc:  # e.g. an int of more digits than Python will print
        raise WireError(f"cannot send this value: {exc}") from None
    header = _header(tree, arrays)
    if len(header) > MAX_HEADER:
        raise WireError(f"the message is too large: a description of {len(header)} bytes, at most {MAX_HEADER} "
                        "(send long lists of numbers as NumPy arrays)")
    total = _LENGTH.size + len(header) + sum(a.nbytes for a in arrays)
    if total > max_bytes:
        raise WireError(f"the message is too large: {total} bytes, at most {max_bytes}")
    return [_LENGTH.pack(len(header)), header, *(a.tobytes() for a in arrays)]


def encode(obj, max_bytes: int = MAX_FRAME) -> bytes:
    return b"".join(_parts(obj, max_bytes))


def write_frame(stream, obj) -> None:
    # Everything is encoded before the first byte is written: a refused message leaves the channel in step,
    # so the sender can still send an error reply instead.
    parts = _parts(obj, MAX_FRAME)
    stream.write(b"".join([_LENGTH.pack(sum(map(len, parts))), *parts]))
    stream.flush()


# -- decoding -------------------------------------------------------------------------------------------------
def _arrays(entries, data: bytes, start: int) -> list:
    """The arrays the header declares, each checked against the bytes there before it is made."""
    if type(entries) is not list:
        raise WireError("malformed message: no list of arrays")
    layout, offset = [], start
    for entry in entries:
        if type(entry) is not dict or set(entry) != {"dtype", "shape", "offset", "nbytes"}:
            raise WireError("malformed message: bad array entry")
        dtype = DTYPES.get(entry["dtype"]) if type(entry["dtype"]) is str else None
        if dtype is None:
            raise WireError(f"array dtype {entry['dtype']!r} is not allowed")
        shape, nbytes = entry["shape"], entry["nbytes"]
        if type(shape) is not list or len(shape) > MAX_NDIM or any(type(n) is not int or n < 0 for n in shape):
            raise WireError(f"bad array shape {shape!r}")
        if type(nbytes) is not int or math.prod(shape) * dtype.itemsize != nbytes:
            raise WireError(f"array of {nbytes!r} bytes does not match its shape {shape} and dtype {dtype}")
        # Back to back, right after the header: no array overlaps the header or another, none is read twice.
        if type(entry["offset"]) is not int or entry["offset"] != offset:
            raise WireError(f"array at offset {entry['offset']!r}, expected {offset}")
        if offset + nbytes > len(data):
            raise WireError(f"array at offset {offset} runs {offset + nbytes - len(data)} bytes past the end")
        layout.append((dtype, shape, offset))
        offset += nbytes
    if offset != len(data):
        raise WireError(f"{len(data) - offset} bytes after the last array")
    # Copies in native byte order: writeable, owning their memory, and no larger in total than the payload.
    return [np.frombuffer(data, dtype, math.prod(shape), offset).reshape(shape).astype(dtype.newbyteorder("="))
            for dtype, shape, offset in layout]


def _unpack(node, arrays: list, depth: int = 0):
    if depth > MAX_DEPTH:
        raise WireError(f"malformed message: nested more than {MAX_DEPTH} deep")
    keys = set(node) if type(node) is dict else None
    if keys == {"v"} and (node["v"] is None or type(node["v"]) in _PLAIN):
        return node["v"]
    if keys == {"complex"} and type(node["complex"]) is list and [type(x) for x in node["complex"]] == [float] * 2:
        return complex(*node["complex"])
    if keys == {"ellipsis"}:
        return Ellipsis
    if keys == {"slice"} and type(node["slice"]) is list and len(node["slice"]) == 3:
        return slice(*(_unpack(part, arrays, depth + 1) for part in node["slice"]))
    if keys == {"a", "scalar"} and type(node["a"]) is int and 0 <= node["a"] < len(arrays) \
            and type(node["scalar"]) is bool:
        arr = arrays[node["a"]]
        if not node["scalar"]:
            return arr
        if arr.ndim == 0:
            return arr[()]
    if keys == {"seq", "tuple"} and type(node["seq"]) is list and type(node["tuple"]) is bool:
        items = [_unpack(x, arrays, depth + 1) for x in node["seq"]]
        return tuple(items) if node["tuple"] else items
    if keys == {"map"} and type(node["map"]) is dict:
        return {k: _unpack(v, arrays, depth + 1) for k, v in node["map"].items()}
    raise WireError("malformed message")


def decode(data: bytes, max_bytes: int = MAX_FRAME):
    if len(data) > max_bytes:
        raise WireError(f"message of {len(data)} bytes is larger than {max_bytes}")
    if len(data) < _LENGTH.size:
        raise WireError("malformed message: too short")
    (size,) = _LENGTH.unpack_from(data)
    start = _LENGTH.size + size
    if size > MAX_HEADER or start > len(data):
        raise WireError(f"malformed message: a header of {size} bytes")
    try:
        header = json.loads(data[_LENGTH.size:start].decode(*_TEXT))
    except (ValueError, RecursionError) as exc:  # a header nested too deep for the parser is RecursionError
        raise WireError(f"malformed message: {type(exc).__name__}: {exc}") from None
    if type(header) is not dict or set(header) != {"tree", "arrays"}:
        raise WireError("malformed message: bad header")
    return _unpack(header["tree"], _arrays(header["arrays"], data, start))


def _read(stream, size: int, closed: str) -> bytes:
    chunks, got = [], 0
    while got < size:  # a raw pipe may hand over less than asked
        chunk = stream.read(size - got)
        if not chunk:
            raise EOFError(closed)
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_frame(stream, max_bytes: int = MAX_FRAME):
    (size,) = _LENGTH.unpack(_read(stream, _LENGTH.size, "the other side closed the channel"))
    if size > max_bytes:  # refused on the announced length alone: nothing of it is read or allocated
        raise WireError(f"message of {size} bytes is larger than {max_bytes}")
    return decode(_read(stream, size, "the other side closed the channel mid-message"), max_bytes)
