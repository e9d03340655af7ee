#!/usr/bin/env python3
"""Writes the first N Fashion-MNIST test images as a float32 .npy (N, 28, 28) of pixel values
(0..255) and their labels as a text file: the real images tests/gpu/test_cuda.cpp classifies
on the GPU host (which has no Debian dataset package).

  fmnist_npy.py OUT.npy OUT_LABELS.txt [N] [DATASET_DIR]
"""
import gzip
import struct
import sys

import numpy as np


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, out_labels = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    d = sys.argv[4] if len(sys.argv) > 4 else "/usr/share/datasets/fashion-mnist"
    with gzip.open(d + "/t10k-images-idx3-ubyte.gz", "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803:
            raise SystemExit("%s: not an idx3 images file" % d)
        n = min(n, count)
        images = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8).reshape(n, rows, cols)
    with gzip.open(d + "/t10k-labels-idx1-ubyte.gz", "rb") as f:
        f.read(8)
        labels = np.frombuffer(f.read(n), dtype=np.uint8)
    np.save(out, images.astype(np.float32))
    with open(out_labels, "w") as f:
        f.write("\n".join(str(int(v)) for v in labels) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
