"""Soak and churn of alexnetclassify in a real pipeline (issue 16, docs/RELIABILITY.md).

    soak.py PLUGIN_DIR MAKE_MODEL [--seconds S] [--warmup W] [--out DIR] [--plot FILE]

One process runs   videotestsrc ! jpegenc ! jpegdec ! alexnetclassify ! vp8enc ! fakesink
(decode -> classify -> encode) for S seconds (default 120). Meanwhile:
- a churn thread sets every property that may change in PLAYING to a random value, one every
  few milliseconds (labels files good, short, missing; object classes and sizes good and bad;
  enums, booleans, numbers over their range);
- every 3 s the model is swapped, in turn: a good file, a corrupt (truncated) one, another good
  one, a mismatched one (a valid container whose config does not fit its tensors);
- each second the process's resident memory (VmRSS) and open file descriptors are sampled,
  with the frames classified so far.

It fails when, after the first W seconds (default 60), RSS grows by more than 10 MB over its
value at W s; when the fd count differs from its value at W s (for longer than a file load:
see sample()); when frames stop flowing
(a swap or a property that stalls the stream); or when the pipeline posts an error. Bad files
and bad values must give warnings, never errors. The samples go to DIR/soak.csv, and with
--plot an RSS/fd curve is drawn (OpenCV, no matplotlib needed).
Exit 0 pass, 1 fail, 77 skipped (a needed GStreamer element is missing).
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GObject, Gst  # noqa: E402

SWAP_EVERY_S = 3.0

ap = argparse.ArgumentParser()
ap.add_argument("plugin_dir")
ap.add_argument("make_model")
ap.add_argument("--seconds", type=float, default=120)
ap.add_argument("--warmup", type=float, default=60)
ap.add_argument("--out", default="")
ap.add_argument("--plot", default="")
ap.add_argument("--seed", type=int, default=16)
ap.add_argument("--replot", default="", help="only draw --plot from an earlier run's soak.csv")
ap.add_argument("--rss-limit-mb", type=float, default=10,
                help="allowed growth after the warmup (under ASan its quarantine of freed "
                     "memory grows RSS by design: scripts/sanitize --gst passes a large one)")
args = ap.parse_args()

def plot(samples, warmup, path):
    """RSS (MB, its range after the warmup) and open fds against time, drawn with OpenCV."""
    import cv2
    import numpy as np
    W, H, M = 960, 420, 60
    img = np.full((H, W, 3), 255, np.uint8)
    t_max = max(s[0] for s in samples) or 1
    settled = [s[1] / 1024 for s in samples if s[0] >= warmup] or [s[1] / 1024 for s in samples]
    lo, hi = min(settled) - 5, max(settled) + 5
    fd_hi = max(s[2] for s in samples) + 2

    def xy(t, v, vlo, vhi):
        v = min(max(v, vlo), vhi)
        return (int(M + (W - 2 * M) * t / t_max), int(H - M - (H - 2 * M) * (v - vlo) / (vhi - vlo)))

    cv2.rectangle(img, (M, M), (W - M, H - M), (0, 0, 0), 1)
    for a, b in zip(samples, samples[1:]):
        cv2.line(img, xy(a[0], a[2], 0, fd_hi), xy(b[0], b[2], 0, fd_hi), (0, 140, 0), 1)
        cv2.line(img, xy(a[0], a[1] / 1024, lo, hi), xy(b[0], b[1] / 1024, lo, hi), (200, 60, 0), 1)
    wx = xy(warmup, lo, lo, hi)[0]
    cv2.line(img, (wx, M), (wx, H - M), (150, 150, 150), 1)
    font = cv2.FONT_HERSHEY_SIMPLEX
    frames = samples[-1][3]
    cv2.putText(img, f"alexnetclassify soak, {t_max / 60:.0f} min, {frames} frames: RSS (blue, "
                f"{lo:.0f}-{hi:.0f} MB), open fds (green, 0-{fd_hi})", (M, 35), font, 0.5,
                (0, 0, 0), 1)
    cv2.putText(img, f"{hi:.0f} MB", (4, M + 5), font, 0.4, (200, 60, 0), 1)
    cv2.putText(img, f"{lo:.0f} MB", (4, H - M), font, 0.4, (200, 60, 0), 1)
    cv2.putText(img, "0 s", (M, H - 35), font, 0.5, (0, 0, 0), 1)
    cv2.putText(img, f"{t_max:.0f} s", (W - M - 50, H - 35), font, 0.5, (0, 0, 0), 1)
    cv2.putText(img, f"end of warmup ({warmup:.0f} s)", (wx + 4, M + 18), font, 0.45,
                (90, 90, 90), 1)
    cv2.imwrite(path, img)


if args.replot:
    with open(args.replot) as f:
        rows = [tuple(float(x) for x in line.split(",")) for line in list(f)[1:]]
    plot([(t, int(r), int(d), int(n)) for t, r, d, n in rows], args.warmup, args.plot)
    sys.exit(0)


tmp = tempfile.mkdtemp(prefix="alexnet-soak-")
os.environ["GST_PLUGIN_PATH"] = args.plugin_dir
os.environ.setdefault("GST_REGISTRY_1_0", os.path.join(tmp, "registry.bin"))
Gst.init(None)
for name in ("videotestsrc", "jpegenc", "jpegdec", "vp8enc", "alexnetclassify"):
    if Gst.ElementFactory.find(name) is None:
        print(f"SKIP: GStreamer element {name} is missing")
        sys.exit(77)


# ---- the files the swaps and the churn use ----------------------------------------------------
def make_model(path, seed):
    subprocess.run([args.make_model, path, "small-32", "10", str(seed)], check=True)
    return path


def mismatched(src, dst):
    """src's tensors under a config that says 11 classes: a valid file that cannot load."""
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    cfg = json.loads(header["__metadata__"]["alexnet.config"])
    cfg["classes"] = 11
    header["__metadata__"]["alexnet.config"] = json.dumps(cfg)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    return dst


good_a = make_model(os.path.join(tmp, "a.safetensors"), 1)
good_b = make_model(os.path.join(tmp, "b.safetensors"), 2)
corrupt = os.path.join(tmp, "corrupt.safetensors")
with open(good_a, "rb") as f:
    blob = f.read()
with open(corrupt, "wb") as f:
    f.write(blob[: len(blob) * 2 // 3])
bad_fit = mismatched(good_a, os.path.join(tmp, "mismatched.safetensors"))
SWAPS = [good_b, corrupt, good_a, bad_fit]
labels_good = os.path.join(tmp, "labels10.txt")
labels_short = os.path.join(tmp, "labels3.txt")
with open(labels_good, "w") as f:
    f.write("".join(f"class {i}\n" for i in range(10)))
with open(labels_short, "w") as f:
    f.write("one\ntwo\nthree\n")

# ---- the pipeline -----------------------------------------------------------------------------
pipeline = Gst.parse_launch(
    "videotestsrc pattern=ball is-live=false ! video/x-raw,width=320,height=240,framerate=30/1 "
    "! jpegenc quality=80 ! jpegdec ! videoconvert "
    f"! alexnetclassify name=c model={good_a} threads=1 device=cpu "
    "! videoconvert ! vp8enc deadline=1 cpu-used=16 ! fakesink sync=false")
classify = pipeline.get_by_name("c")

# The properties that may change while PLAYING, and a value generator for each.
rng = random.Random(args.seed)
STRINGS = {
    "labels-file": [None, labels_good, labels_short, os.path.join(tmp, "missing.txt")],
    "object-class": ["", "face", "face,person", ",,", "x" * 300],
    "min-object-size": ["0x0", "16x16", "4096x4096", "bad", "-1x5"],
}
NUMBER_CAP = {"stats-interval": 500, "inference-interval": 8, "reclassify-interval": 8,
              "top-k": 12, "font-scale": 4, "batch-timeout": 50}


def churn_values():
    out = []
    for p in classify.list_properties():
        if not (p.flags & Gst.PARAM_MUTABLE_PLAYING) or not (p.flags & 2):  # 2: writable
            continue
        if p.name in ("model", "name", "parent", "model-instance-id"):
            continue
        t = p.value_type
        if t == GObject.TYPE_BOOLEAN:
            out.append((p.name, lambda: rng.random() < 0.5))
        elif t in (GObject.TYPE_UINT, GObject.TYPE_INT, GObject.TYPE_UINT64, GObject.TYPE_INT64):
            lo, hi = p.minimum, min(p.maximum, p.minimum + NUMBER_CAP.get(p.name, 100))
            out.append((p.name, lambda lo=lo, hi=hi: rng.randint(lo, hi)))
        elif t in (GObject.TYPE_FLOAT, GObject.TYPE_DOUBLE):
            lo, hi = p.minimum, min(p.maximum, p.minimum + 10)
            out.append((p.name, lambda lo=lo, hi=hi: rng.uniform(lo, hi)))
        elif t.is_a(GObject.TYPE_ENUM):
            vals = [int(v) for v in p.enum_class.__enum_values__.values()]
            out.append((p.name, lambda vals=vals: rng.choice(vals)))
        elif t == GObject.TYPE_STRING and p.name in STRINGS:
            out.append((p.name, lambda n=p.name: rng.choice(STRINGS[n])))
    return out


CHURN = churn_values()

stop = threading.Event()
churned = {"sets": 0, "swaps": 0}


def churn():
    last_swap = time.monotonic()
    while not stop.is_set():
        name, value = rng.choice(CHURN)
        classify.set_property(name, value())
        churned["sets"] += 1
        if time.monotonic() - last_swap >= SWAP_EVERY_S:
            classify.set_property("model", SWAPS[churned["swaps"] % len(SWAPS)])
            churned["swaps"] += 1
            last_swap = time.monotonic()
        time.sleep(rng.uniform(0.001, 0.008))


def open_fds():
    """{fd: target} of this process, less the one listdir itself holds."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # listdir's own, closed by now
    return out


def sample(expect_fds):
    """(VmRSS in kB, open fds). A count that differs from expect_fds is looked at again, up to
    5 times 20 ms apart: a model or labels file open for a load in flight is not a change;
    one that stays is (and its targets are printed)."""
    with open("/proc/self/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = open_fds()
    for _ in range(5):
        if expect_fds is None or len(fds) == expect_fds:
            break
        time.sleep(0.02)
        fds = open_fds()
    if expect_fds is not None and len(fds) != expect_fds:
        print(f"     fds now {len(fds)} (expected {expect_fds}): {sorted(fds.values())}", flush=True)
    return rss, len(fds)


# ---- run --------------------------------------------------------------------------------------
failures = []
samples = []  # (t, rss_kb, fds, frames)
messages = {"warning": 0, "error": []}
bus = pipeline.get_bus()
pipeline.set_state(Gst.State.PLAYING)
start = time.monotonic()
worker = threading.Thread(target=churn, daemon=True)
worker.start()
next_sample = start
while True:
    now = time.monotonic()
    if now - start >= args.seconds:
        break
    msg = bus.timed_pop(10 * Gst.MSECOND)  # drained here: an unread bus would grow
    while msg is not None:
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            messages["error"].append(f"{err.message} ({dbg})")
        elif msg.type == Gst.MessageType.WARNING:
            messages["warning"] += 1
        elif msg.type == Gst.MessageType.EOS:
            messages["error"].append("unexpected EOS")
        msg = bus.pop()
    if messages["error"]:
        break
    if now >= next_sample:
        settled = [x for x in samples if x[0] >= args.warmup]
        if settled:
            rss, fds = sample(settled[0][2])
        elif now - start >= args.warmup:
            # The baseline: the fewest fds over 5 looks 20 ms apart, not a moment when a model
            # file happens to be open for a load.
            looks = [sample(None) for _ in range(5) if time.sleep(0.02) is None]
            rss, fds = looks[0][0], min(f for _, f in looks)
        else:
            rss, fds = sample(None)
        samples.append((round(now - start, 2), rss, fds, classify.get_property("frames-classified")
                        + classify.get_property("frames-skipped")))
        next_sample += 1.0
stop.set()
worker.join()
pipeline.set_state(Gst.State.NULL)

# ---- verdict ----------------------------------------------------------------------------------
def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f"\n     {detail}"), flush=True)
    if not cond:
        failures.append(name)


check("no error from the pipeline", not messages["error"], "; ".join(messages["error"])[:2000])
after = [s for s in samples if s[0] >= args.warmup]
check(f"ran {args.seconds:.0f} s with samples after the first {args.warmup:.0f} s", len(after) >= 2,
      f"{len(samples)} samples")
if len(after) >= 2:
    base_rss, base_fds = after[0][1], after[0][2]
    peak = max(s[1] for s in after)
    check(f"RSS grew {(peak - base_rss) / 1024:.1f} MB after {args.warmup:.0f} s "
          f"({base_rss / 1024:.1f} -> peak {peak / 1024:.1f} MB; limit {args.rss_limit_mb:g} MB)",
          peak - base_rss <= args.rss_limit_mb * 1024)
    fds = sorted({s[2] for s in after})
    check(f"open file descriptors constant after {args.warmup:.0f} s ({fds})", fds == [base_fds])
    # Frames flow through the whole run: every 10 s window after the warmup moves on.
    stalls = [a[0] for a, b in zip(after, after[10:]) if b[3] <= a[3]]
    check("frames kept flowing through every swap (no 10 s window without a frame)",
          not stalls, f"stalled from t = {stalls[:5]} s")
print(f"frames {samples[-1][3] if samples else 0}, property sets {churned['sets']}, model swaps "
      f"{churned['swaps']}, warnings {messages['warning']}, samples {len(samples)}")

if args.out:
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "soak.csv"), "w") as f:
        f.write("seconds,rss_kb,fds,frames\n")
        for s in samples:
            f.write(",".join(map(str, s)) + "\n")
if args.plot and samples:
    plot(samples, args.warmup, args.plot)

shutil.rmtree(tmp, ignore_errors=True)
if failures:
    print(f"{len(failures)} check(s) failed: {failures}")
    sys.exit(1)
print("all checks passed")
