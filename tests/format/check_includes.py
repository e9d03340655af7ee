#!/usr/bin/env python3
"""The arrows that must never exist (docs/ARCHITECTURE.md), checked on the #include lines:

    library  -> GStreamer, GLib, OpenCV, the trainer, the plugin
    backend  -> another backend          (reference, cpu, cuda each stand alone)
    reference -> any fast path           (oneDNN, CUDA, cuDNN, cuBLAS, NCCL)
    public headers -> internal headers or a fast path's headers

    check_includes.py SOURCE_ROOT
    check_includes.py FIXTURE_ROOT --expect TEXT   (the self-test: exit 0 only if a
                                                    violation containing TEXT is reported)

Prints every violation as FILE:LINE: the include, and the rule it breaks; exits 1 if there
is one. A rule that matched no file at all is an error too (a moved folder must move its
rule with it, not switch the check off).
"""
import os
import re
import sys

# (name, folder the rule covers, forbidden include pattern)
FAST = r"dnnl|oneapi/|cuda|cudnn|cublas|nccl"
RULES = [
    ("the library includes no GStreamer, GLib, OpenCV, trainer or plugin header", "lib",
     r"^(gst/|glib|gobject|opencv|.*\btraining/|.*\bplugins/|trainer\.h|gstalexnet)"),
    ("the core includes nothing above it (runners, backends, files, preprocessing)",
     "lib/src/core", r"^(run|backends|io|preprocess)/"),
    ("the reference backend includes no other backend and no fast path",
     "lib/src/backends/reference", r"(^|/)(cpu|cuda)/|" + FAST),
    ("the cpu backend includes no other backend", "lib/src/backends/cpu",
     r"(^|/)(reference|cuda)/|cuda|cudnn|cublas|nccl"),
    ("the cuda backend includes no other backend", "lib/src/backends/cuda",
     r"(^|/)(reference|cpu)/|dnnl|oneapi/"),
    ("public headers include only public headers and the standard library", "lib/include",
     r"^\.\./|^(core|io|preprocess|run|backends)/|" + FAST),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
SOURCES = (".h", ".hpp", ".c", ".cc", ".cpp", ".cu", ".cuh")


def files_under(root, folder):
    top = os.path.join(root, folder)
    for dirpath, _, names in os.walk(top):
        for n in sorted(names):
            if n.endswith(SOURCES):
                yield os.path.join(dirpath, n)


def main():
    root = sys.argv[1]
    bad, checked = [], 0
    for name, folder, pattern in RULES:
        rx = re.compile(pattern)
        files = list(files_under(root, folder))
        if not files:
            bad.append(f"{folder}: no source files: the rule '{name}' checks nothing")
            continue
        for path in files:
            checked += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for i, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m and rx.search(m.group(1)):
                        rel = os.path.relpath(path, root)
                        bad.append(f"{rel}:{i}: #include {m.group(1)}: breaks '{name}'")
    for b in bad:
        print(b)
    print(f"{len(RULES)} include rules over {checked} file checks: "
          f"{'no violation' if not bad else f'{len(bad)} violation(s)'}")
    if "--expect" in sys.argv:
        want = sys.argv[sys.argv.index("--expect") + 1]
        found = any(want in b for b in bad)
        print(f"self-test: the violation '{want}' was {'found' if found else 'NOT found'}")
        return 0 if found else 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
