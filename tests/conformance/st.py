"""A minimal safetensors writer/reader (numpy only), so the tests and benchmarks do not
depend on the safetensors pip package.

Layout: 8-byte little-endian header length, a JSON object (name -> {"dtype", "shape",
"data_offsets": [begin, end]} plus an optional "__metadata__" of string -> string), then
the raw little-endian tensor bytes, in the order given, contiguous and without holes.
"""
import json
import os
import struct

import numpy as np

_DTYPES = {
    np.dtype("<f4"): "F32",
    np.dtype("<f2"): "F16",
}
_FROM = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}


def write(path, tensors, metadata=None):
    """tensors: a list of (name, array) or a dict (kept in its order); float32 arrays.
    metadata: dict of str -> str (or None)."""
    items = list(tensors.items()) if isinstance(tensors, dict) else list(tensors)
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("safetensors metadata must map str to str (%r)" % (k,))
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, arr in items:
        a = np.asarray(arr)
        if a.dtype.newbyteorder("<") not in _DTYPES:
            a = a.astype(np.float32)
        a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
        raw = a.tobytes(order="C")
        header[name] = {
            "dtype": _DTYPES[a.dtype],
            "shape": [int(d) for d in a.shape],
            "data_offsets": [offset, offset + len(raw)],
        }
        offset += len(raw)
        blobs.append(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad the header with spaces to a multiple of 8 bytes (what the reference writer does).
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read(path):
    """Returns (dict name -> numpy array in file order, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, end = e["data_offsets"]
        dt = _FROM[e["dtype"]]
        out[name] = np.frombuffer(data[base + b:base + end], dtype=dt).reshape(e["shape"]).astype(np.float32)
    return out, meta
