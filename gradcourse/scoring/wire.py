"""The message format between the trusted grader and the sandboxed learner process.

Frames are a 4-byte length and an ``.npz`` archive: a JSON description plus plain numeric arrays. Loading
never unpickles (``allow_pickle=False``) and rejects object arrays, so whatever the learner's code builds, only
numbers, strings and their nesting come back. This file is copied into the sandbox and must import nothing
but the standard library and NumPy.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

MAX_FRAME = 64 * 1024**2
NUMERIC_KINDS = "biufc"


class WireError(ValueError):
    pass


def _pack(obj, arrays: list):
    # Plain Python values keep their type (code tests `isinstance(axis, int)`); exact types only, so a subclass
    # with surprising methods is turned into plain numbers below instead.
    if obj is None or type(obj) in (bool, str, int, float):
        return {"v": obj}
    if type(obj) is complex:
        return {"complex": [obj.real, obj.imag]}
    if obj is Ellipsis:
        return {"ellipsis": True}
    if type(obj) is slice:
        return {"slice": [_pack(obj.start, arrays), _pack(obj.stop, arrays), _pack(obj.step, arrays)]}
    if isinstance(obj, (int, float, complex, np.generic, np.ndarray)):
        arr = np.asarray(obj)
        if arr.dtype.kind not in NUMERIC_KINDS:
            raise WireError(f"array of dtype {arr.dtype} is not numeric")
        arrays.append(arr)
        return {"a": len(arrays) - 1, "scalar": not isinstance(obj, np.ndarray)}
    if isinstance(obj, (tuple, list)):
        return {"seq": [_pack(x, arrays) for x in obj], "tuple": isinstance(obj, tuple)}
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {"map": {k: _pack(v, arrays) for k, v in obj.items()}}
    raise WireError(f"cannot send a {type(obj).__name__}")


def _unpack(desc, arrays):
    if "v" in desc:
        return desc["v"]
    if "complex" in desc:
        return complex(*desc["complex"])
    if "ellipsis" in desc:
        return Ellipsis
    if "slice" in desc:
        return slice(*(_unpack(part, arrays) for part in desc["slice"]))
    if "a" in desc:
        arr = arrays[f"a{desc['a']}"]
        return arr[()] if desc.get("scalar") else arr
    if "seq" in desc:
        items = [_unpack(x, arrays) for x in desc["seq"]]
        return tuple(items) if desc.get("tuple") else items
    if "map" in desc:
        return {k: _unpack(v, arrays) for k, v in desc["map"].items()}
    raise WireError("malformed message")


def encode(obj) -> bytes:
    arrays: list = []
    desc = json.dumps(_pack(obj, arrays))
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(desc.encode(), dtype=np.uint8), **{f"a{i}": a for i, a in enumerate(arrays)})
    return buf.getvalue()


def decode(data: bytes):
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:  # noqa: BLE001 - anything unreadable is the sender's fault
        raise WireError(f"unreadable message: {exc}") from None
    for key, arr in arrays.items():
        if key != "meta" and arr.dtype.kind not in NUMERIC_KINDS:
            raise WireError(f"array of dtype {arr.dtype} is not numeric")
    try:
        desc = json.loads(arrays.pop("meta").tobytes().decode())
    except Exception as exc:  # noqa: BLE001
        raise WireError(f"malformed message: {exc}") from None
    return _unpack(desc, arrays)


def write_frame(stream, obj) -> None:
    payload = encode(obj)
    stream.write(struct.pack(">I", len(payload)) + payload)
    stream.flush()


def read_frame(stream):
    head = stream.read(4)
    if len(head) < 4:
        raise EOFError("the other side closed the channel")
    (size,) = struct.unpack(">I", head)
    if size > MAX_FRAME:
        raise WireError(f"message of {size} bytes is larger than {MAX_FRAME}")
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the other side closed the channel mid-message")
    return decode(payload)
