#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from valid
inputs and the malformed cases the unit tests already know. Deterministic: rerunning it
rewrites the same files.

    tests/fuzz/make_corpus.py BUILD_DIR     (Debian python3-opencv; BUILD_DIR has
                                             tests/weights/weights_mutate)

Each target's input layout is described at the top of its fuzz_<target>.cpp."""
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261206)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_bytes(arr, version=(1, 0), descr=None, fortran=False, shape=None):
    descr = descr or arr.dtype.str
    shape = arr.shape if shape is None else shape
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, fortran, "(%s)" % "".join("%d, " % s for s in shape) if len(shape) != 1 else "(%d,)" % shape[0])
    lenfmt = "<H" if version[0] == 1 else "<I"
    pre = 10 if version[0] == 1 else 12
    pad = (64 - (pre + len(header) + 1) % 64) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack(lenfmt, len(header)) + header.encode() + arr.tobytes()


def corpus_npy():
    a = rng.standard_normal((1, 3, 4, 4)).astype("<f4")
    write("npy", "valid-1x3x4x4", npy_bytes(a))
    write("npy", "valid-v2", npy_bytes(a, (2, 0)))
    write("npy", "valid-v3", npy_bytes(a, (3, 0)))
    write("npy", "valid-1d", npy_bytes(np.arange(5, dtype="<f4")))
    write("npy", "valid-empty", npy_bytes(np.zeros((0, 3), dtype="<f4")))
    write("npy", "f8", npy_bytes(a.astype("<f8")))
    write("npy", "big-endian", npy_bytes(a.astype(">f4")))
    write("npy", "fortran", npy_bytes(a, fortran=True))
    write("npy", "truncated", npy_bytes(a)[:-7])
    write("npy", "huge-shape", npy_bytes(a, shape=(1 << 40, 1 << 30)))
    write("npy", "bad-magic", b"\x93NUMPX" + npy_bytes(a)[6:])
    write("npy", "header-too-long", b"\x93NUMPY\x01\x00\xff\xff{")


def idx(images, labels):
    n, h, w = images.shape
    img = struct.pack(">IIII", 0x803, n, h, w) + images.astype(np.uint8).tobytes()
    lab = struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes()
    return img, lab


def dataset_idx(name, img, lab):
    write("dataset", name, b"\x00" + struct.pack("<H", len(img)) + img + lab)


def corpus_dataset():
    imgs = rng.integers(0, 256, (3, 4, 5))
    img, lab = idx(imgs, np.array([0, 1, 9]))
    dataset_idx("idx-valid", img, lab)
    dataset_idx("idx-count-mismatch", img, struct.pack(">II", 0x801, 2) + b"\x00\x01")
    dataset_idx("idx-label-10", img, struct.pack(">II", 0x801, 3) + b"\x00\x01\x0a")
    dataset_idx("idx-huge-dims", struct.pack(">IIII", 0x803, 1, 1 << 20, 1 << 20), lab)
    dataset_idx("idx-bad-magic", struct.pack(">I", 0x804) + img[4:], lab)
    dataset_idx("idx-truncated", img[:-3], lab)
    rec = lambda label: bytes([label]) + rng.integers(0, 256, 3072).astype(np.uint8).tobytes()
    write("dataset", "cifar-valid", b"\x01" + rec(3) + rec(7))
    write("dataset", "cifar-short-record", b"\x01" + rec(3)[:-1])
    write("dataset", "cifar-label-10", b"\x01" + rec(10))
    pic = rng.integers(0, 256, (9, 7, 3)).astype(np.uint8)
    for name, ext, flag, arr, params in [
            ("jpg", ".jpg", 0, pic, []),
            ("jpg-progressive", ".jpg", 0, pic, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]),
            ("jpg-grey", ".jpg", 0, pic[:, :, 0], []),
            ("png", ".png", 1, pic, []),
            ("png-rgba", ".png", 1, np.dstack([pic, pic[:, :, :1]]), []),
            ("png-16bit", ".png", 1, pic.astype(np.uint16) * 257, []),
            ("png-grey", ".png", 1, pic[:, :, 0], [])]:
        ok, enc = cv2.imencode(ext, arr, params)
        assert ok
        write("image", name, bytes([flag]) + enc.tobytes())
        if name in ("jpg", "png"):
            write("image", "%s-truncated" % name, bytes([flag]) + enc.tobytes()[: len(enc) // 2])
    write("image", "empty", b"\x00")
    write("image", "not-an-image", b"\x01hello")
    write("dataset", "labels-valid", b"\x02# names\nzero\n\none\n")
    write("dataset", "labels-too-few", b"\x02zero\n")
    write("dataset", "labels-binary", b"\x02\x00\xff\xfe\n\n")


CONFIG = ('{"adaptive_pool":0,"classes":10,"conv":[{"groups":1,"kernel":5,"lrn":true,"out_channels":32,'
          '"pad":2,"pool":true,"stride":1},{"groups":2,"kernel":5,"lrn":true,"out_channels":64,"pad":2,'
          '"pool":true,"stride":1},{"groups":1,"kernel":3,"lrn":false,"out_channels":96,"pad":1,'
          '"pool":false,"stride":1},{"groups":2,"kernel":3,"lrn":false,"out_channels":96,"pad":1,'
          '"pool":false,"stride":1},{"groups":2,"kernel":3,"lrn":false,"out_channels":64,"pad":1,'
          '"pool":true,"stride":1}],"dropout":0.5,"dropout_order":"after_relu","fc":[256,256],'
          '"in_channels":1,"input_size":28,"lrn":{"alpha":0.0001,"alpha_convention":"paper",'
          '"beta":0.75,"enabled":true,"k":2.0,"size":5},"pool":{"kernel":3,"stride":2},'
          '"variant":"custom"}')
PREPROCESS = ('{"channel_order":"rgb","crop":"center","interpolation":"area","mean":[0.2878,0.2878,'
              '0.2878],"resize":28,"scale":0.00392156862745098,"std":[0.3535,0.3535,0.3535]}')


def corpus_strings():
    for i, s in enumerate(["cpu", "cpu,cpu", "gpu:0", "gpu:1,cpu", "gpu:-1", "cpu,", "", "gpu:99999999999",
                           "GPU:0", "cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu,cpu"]):
        write("strings", "device-%02d" % i, b"\x00" + s.encode())
    for i, s in enumerate(["face", "face, person", " , ,", "", "a" * 300]):
        write("strings", "classes-%02d" % i, b"\x01" + s.encode())
    for i, s in enumerate(["32x32", "0x0", "99999x1", "x", "12x", "-1x5", "65535x65535"]):
        write("strings", "size-%02d" % i, b"\x02" + s.encode())
    for i, s in enumerate(["RGB", "NV12", "I420", "GRAY8", "nope", "rgb"]):
        write("strings", "format-%02d" % i, b"\x03" + s.encode())
    write("strings", "config-valid", b"\x04" + CONFIG.encode())
    write("strings", "config-bad-kernel", b"\x04" + CONFIG.replace('"kernel":5', '"kernel":-5', 1).encode())
    write("strings", "config-huge", b"\x04" + CONFIG.replace('"input_size":28', '"input_size":99999999', 1).encode())
    write("strings", "preprocess-valid", b"\x05" + PREPROCESS.encode())
    write("strings", "preprocess-zero-std", b"\x05" + PREPROCESS.replace("0.3535,", "0,", 1).encode())


def frame(fmt, w, h, colorimetry=0, roi=0, boxes=(), pixels=b"\x10\x80\xf0"):
    b = bytes([fmt]) + struct.pack("<HH", w - 1, h - 1) + bytes([colorimetry, roi, len(boxes)])
    for box in boxes:
        b += struct.pack("<HHHH", *box)
    return b + pixels


def corpus_frame():
    for fmt in range(11):
        write("frame", "format%02d-33x17" % fmt, frame(fmt, 33, 17, fmt % 5))
        write("frame", "format%02d-1x1-roi" % fmt, frame(fmt, 1, 1, 0, 1, [(0, 0, 1, 1)]))
    write("frame", "i420-odd-boxes", frame(9, 63, 31, 1, 1, [(1, 1, 7, 5), (60, 28, 10, 10), (0, 0, 0, 0),
                                                            (65535, 65535, 65535, 65535)]))
    write("frame", "nv12-320x240-boxes", frame(10, 320, 240, 0, 1, [(10, 20, 100, 80), (319, 239, 1, 1)]))
    write("frame", "rgb-512x512", frame(0, 512, 512, 2, 0, [], bytes(range(256))))


def corpus_weights(build):
    tool = os.path.join(build, "tests", "weights", "weights_mutate")
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "tiny.safetensors")
        subprocess.run([tool, "--seed", p], check=True)
        valid = open(p, "rb").read()
    write("weights", "model-valid", b"\x00" + valid)
    write("weights", "model-truncated", b"\x00" + valid[: len(valid) // 2])
    write("weights", "model-header-len-huge", b"\x00" + struct.pack("<Q", 1 << 62) + valid[8:])
    write("weights", "labels-valid", b"\x01a\nb\nc\n")
    write("weights", "labels-empty-lines", b"\x01\n\n\n")
    write("weights", "preprocess-valid", b"\x02" + PREPROCESS.encode())
    write("weights", "config-valid", b"\x03" + CONFIG.encode())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    shutil.rmtree(os.path.join(HERE, "corpus"), ignore_errors=True)
    corpus_npy()
    corpus_dataset()
    corpus_strings()
    corpus_frame()
    corpus_weights(sys.argv[1])
    for t in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        n = len(os.listdir(os.path.join(HERE, "corpus", t)))
        print("corpus/%s: %d files" % (t, n))


if __name__ == "__main__":
    main()
