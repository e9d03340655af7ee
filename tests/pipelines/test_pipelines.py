"""pipelines/ scripts and the example apps alexnet-analyze and alexnet-streams, end to end
through gst-launch-1.0 and the real plugin, on generated videos with a small generated weights
file.

Usage: test_pipelines.py PLUGIN_DIR MAKE_MODEL ALEXNET_ANALYZE PIPELINES_DIR [GST_SYSTEM_PLUGIN_DIR]
(alexnet-streams is taken from ALEXNET_ANALYZE's folder, the build's examples/).

Hermetic: the plugin loads from PLUGIN_DIR only (GST_PLUGIN_PATH), with its own registry in
a temporary folder; criticals are fatal (G_DEBUG=fatal-criticals); no display.
Exit 77 (skipped) when GStreamer's tools or a needed encoder/decoder are missing.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

PLUGIN_DIR, MAKE_MODEL, ANALYZE, PIPELINES = sys.argv[1:5]
SYSTEM_PLUGINS = sys.argv[5] if len(sys.argv) > 5 else ""
STREAMS = os.path.join(os.path.dirname(ANALYZE), "alexnet-streams")
MQTT_SUMMARY = os.path.join(os.path.dirname(ANALYZE), "alexnet-mqtt-summary")
FRAMES = 64
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f"\n     {detail}"), flush=True)
    if not cond:
        failures.append(name)


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


for tool in ("gst-launch-1.0", "gst-inspect-1.0"):
    if not shutil.which(tool):
        skip(f"{tool} not found (Debian: gstreamer1.0-tools)")

tmp = tempfile.mkdtemp(prefix="alexnet-pipelines-")
env = dict(os.environ)
for var in ("DISPLAY", "WAYLAND_DISPLAY", "DEVICE", "PARALLEL", "THREADS", "TOP_K", "INTERVAL", "BATCH_SIZE",
            "LABELS", "ELEMENT_OPTS", "SINK", "CAPS", "REALTIME", "GST_PLUGIN_PATH_1_0"):
    env.pop(var, None)
env.update({
    "GST_PLUGIN_PATH": PLUGIN_DIR,
    "GST_REGISTRY_1_0": os.path.join(tmp, "registry.bin"),
    "G_DEBUG": "fatal-criticals",
    "DEVICE": "cpu",
    "THREADS": "1",
})
if SYSTEM_PLUGINS:  # GStreamer's own plugins only (not ~/.local/share/gstreamer-1.0/plugins)
    env["GST_PLUGIN_SYSTEM_PATH"] = SYSTEM_PLUGINS


def run(cmd, extra_env=None, timeout=120):
    e = dict(env)
    e.update(extra_env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e)
    return p.returncode, p.stdout, p.stderr


def exists(element):
    return run(["gst-inspect-1.0", "--exists", "--atleast-version=0.0", element])[0] == 0


def script(name):
    return os.path.join(PIPELINES, name)


def count_frames(path):
    """Decoded video frames of PATH and their size, through decodebin and a verbose fakesink."""
    rc, out, err = run(["gst-launch-1.0", "-v", "filesrc", f"location={path}", "!", "decodebin",
                        "!", "video/x-raw", "!", "fakesink", "silent=false"])
    if rc != 0:
        return -1, None
    frames = len(re.findall(r"last-message = chain", out))
    m = re.search(r"fakesink0\.GstPad:sink: caps = video/x-raw.*?width=\(int\)(\d+), "
                  r"height=\(int\)(\d+)", out)
    return frames, (m and (int(m.group(1)), int(m.group(2))))


def parse_json_lines(out, name):
    """The JSON objects of OUT's lines, or None (a failed check) when one is not JSON."""
    try:
        return [json.loads(l) for l in out.splitlines()]
    except ValueError as e:
        check(f"{name}: every line is JSON", False, f"{e}\n{out[:500]}")
        return None


def test_streams(model, video, analyzed):
    """alexnet-streams: three inputs (a path, a path with a space and quotes, a file:// URI)
    through one shared model; per stream the frames of ANALYZED (alexnet-analyze's objects for
    VIDEO) in order with the same top-1, its stats and summary lines; the error paths."""
    if not os.path.isfile(STREAMS):
        check("alexnet-streams is built", False, f"{STREAMS} missing (ninja -C build)")
        return
    odd = os.path.join(tmp, "a clip 'with' \"quotes\"." + video.rsplit(".", 1)[1])
    shutil.copyfile(video, odd)
    inputs = [video, odd, "file://" + urllib.parse.quote(video)]
    args = ["--device", "cpu", "--threads", "1", "-k", "3"]
    rc, out, err = run([STREAMS, *args, model, *inputs])
    check("alexnet-streams: 3 inputs exit 0", rc == 0, err[-1500:])
    objs = parse_json_lines(out, "alexnet-streams")
    if objs is None:
        return
    check("alexnet-streams: every line is JSON", True)
    frames = {i: [o for o in objs if o.get("stream") == i and "pts" in o] for i in range(3)}
    summaries = {o.get("stream"): o for o in objs if o.get("summary") is True}
    stats = {o.get("stream"): o["stats"] for o in objs if isinstance(o.get("stats"), dict)}
    check("alexnet-streams: only frame, summary and stats lines of streams 0-2",
          all(o.get("stream") in (0, 1, 2) for o in objs) and
          sum(map(len, frames.values())) + len(summaries) + len(stats) == len(objs),
          str([o for o in objs if o.get("stream") not in (0, 1, 2)][:3]))
    check(f"alexnet-streams: {FRAMES} frame lines per stream",
          all(len(v) == FRAMES for v in frames.values()), str({k: len(v) for k, v in frames.items()}))
    check("alexnet-streams: each stream's source is its input as a file URI",
          all(o["source"].startswith("file:///") and
              urllib.parse.unquote(o["source"][len("file://"):]) == (video, odd, video)[i]
              for i, v in frames.items() for o in v), str([v[:1] for v in frames.values()]))
    check("alexnet-streams: every frame line has pts, 3 labels/scores/ids, scores sorted in [0, 1]",
          all(set(o) == {"stream", "source", "pts", "labels", "scores", "ids"} and
              isinstance(o["pts"], int) and
              len(o["labels"]) == len(o["scores"]) == len(o["ids"]) == 3 and
              all(isinstance(x, str) for x in o["labels"]) and
              all(0.0 <= x <= 1.0 for x in o["scores"]) and
              all(a >= b for a, b in zip(o["scores"], o["scores"][1:]))
              for v in frames.values() for o in v), out[:400])
    want_pts = [o["pts"] for o in analyzed]
    check("alexnet-streams: each stream's pts increasing, alexnet-analyze's",
          all(a < b for a, b in zip(want_pts, want_pts[1:])) and
          all([o["pts"] for o in v] == want_pts for v in frames.values()),
          str({k: [o["pts"] for o in v[:4]] for k, v in frames.items()}))
    # Same model, same frames: batched with the other streams (batch-size 3) or alone
    # (alexnet-analyze, batch-size 1), the same top-1 (exactly) and scores to float rounding.
    check("alexnet-streams: top-1 ids equal alexnet-analyze's for every frame",
          all([o["ids"][0] for o in v] == [o["ids"][0] for o in analyzed]
              for v in frames.values()),
          str({k: [o["ids"][0] for o in v[:8]] for k, v in frames.items()}) +
          f" vs {[o['ids'][0] for o in analyzed[:8]]}")
    check("alexnet-streams: top-3 ids and scores (to 1e-4) equal alexnet-analyze's",
          all(a["ids"] == b["ids"] and
              all(abs(x - y) <= 1e-4 for x, y in zip(a["scores"], b["scores"]))
              for v in frames.values() for a, b in zip(v, analyzed)))

    def most_frequent_top1(v):
        counts = {}
        for o in v:
            counts[o["labels"][0]] = counts.get(o["labels"][0], 0) + 1
        return max(counts, key=counts.get) if counts else None  # the first seen on ties

    check("alexnet-streams: a summary line per stream (frames, most frequent top-1), last",
          sorted(summaries) == [0, 1, 2] and all(o.get("summary") is True for o in objs[-3:]) and
          all(summaries[i]["frames"] == FRAMES and summaries[i]["source"] == frames[i][0]["source"]
              and summaries[i]["top"] == most_frequent_top1(frames[i]) for i in range(3)),
          str(summaries))
    check("alexnet-streams: an alexnet-stats line per stream, streams == 3, batched (mean-batch > 1)",
          sorted(stats) == [0, 1, 2] and
          all(st.get("streams") == 3 and st.get("frames") == FRAMES and
              st.get("frames-classified") == FRAMES and isinstance(st.get("fps"), (int, float)) and
              isinstance(st.get("p95-latency-us"), (int, float)) and st.get("mean-batch", 0) > 1
              for st in stats.values()), str(stats))

    # --max-frames: every stream stops after its first N frames.
    rc, out, err = run([STREAMS, *args, "-n", "10", model, video, video, video])
    objs = parse_json_lines(out, "alexnet-streams -n 10") or []
    check("alexnet-streams -n 10: exit 0, 10 frames per stream (lines, summary, stats)",
          rc == 0 and all(
              len([o for o in objs if o.get("stream") == i and "pts" in o]) == 10 and
              any(o.get("stream") == i and o.get("frames") == 10 for o in objs if "summary" in o) and
              any(o.get("stream") == i and o["stats"].get("frames") == 10
                  for o in objs if "stats" in o)
              for i in range(3)),
          f"rc={rc} {out[-600:]} {err[-600:]}")

    rc, out, err = run([STREAMS, "--help"])
    check("alexnet-streams --help exits 0 with usage", rc == 0 and "usage:" in out, out + err)
    for argv, why, named in (([model], "no inputs", "INPUT"), ([], "no arguments", "INPUT"),
                             (["-b", "x", model, video], "bad number", "-b"),
                             (["--max-frames", "0", model, video], "bad number", "--max-frames"),
                             (["--batch-timeout=2.5", model, video], "bad number", "--batch-timeout"),
                             (["--frobnicate", model, video], "unknown option", "--frobnicate"),
                             (["-s", "no-such-property=1", model, video], "unknown property",
                              "no-such-property")):
        rc, out, err = run([STREAMS, *argv])
        check(f"alexnet-streams usage error ({why}) exits 2 naming {named}",
              rc == 2 and named in err and out == "", f"rc={rc} {err}")
    missing = os.path.join(tmp, "no-such-clip.webm")
    rc, out, err = run([STREAMS, model, video, missing])
    check("alexnet-streams: a missing input file → exit 1 naming it",
          rc == 1 and missing in err, f"rc={rc} {err}")
    rc, out, err = run([STREAMS, model, video, "file://" + missing])
    check("alexnet-streams: a missing file:// input → exit 1, the bus error naming stream and file",
          rc == 1 and "stream 1" in err and "no-such-clip" in err, f"rc={rc} {err}")
    rc, out, err = run([STREAMS, os.path.join(tmp, "no-such-model.safetensors"), video, video])
    check("alexnet-streams: missing model → exit 1, the element's error naming the file",
          rc == 1 and "no-such-model.safetensors" in err and "classify" in err, f"rc={rc} {err}")


def test_mqtt_streams(model, video):
    """mqtt-streams.sh: two streams through one shared model into a real broker (Debian's
    mosquitto on 127.0.0.1, a free port, its own config), watched by alexnet-mqtt-summary:
    every frame of each stream once, none missing, and each stream's stats (add-stats=true)."""
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(mosquitto) or not os.path.isfile(MQTT_SUMMARY):
        print("SKIP mqtt-streams.sh: needs mosquitto (Debian: mosquitto) and a build with "
              "libmosquitto-dev (alexnet-mqtt-summary)")
        return
    import signal
    import socket
    import time
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        # "user root": started as root (CI), mosquitto would switch to the user mosquitto
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n")
    broker = subprocess.Popen([mosquitto, "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    summary = None
    try:
        for _ in range(50):  # up to 5 s for the listener
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        summary = subprocess.Popen([MQTT_SUMMARY, "--address", f"127.0.0.1:{port}", "--every",
                                    "0.3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env)
        time.sleep(0.8)  # subscribed
        video2 = os.path.join(tmp, "second camera." + video.rsplit(".", 1)[1])
        shutil.copyfile(video, video2)  # another file: another source
        rc, out, err = run([script("mqtt-streams.sh"), model, video, video2],
                           {"MQTT_ADDRESS": f"127.0.0.1:{port}", "PUBLISH_OPTS": "add-stats=true"})
        check("mqtt-streams.sh exits 0", rc == 0, f"rc={rc} {err[-1500:]}")
        time.sleep(1.5)  # the summary's next ticks see everything the broker has
        summary.send_signal(signal.SIGTERM)
        sout, serr = summary.communicate(timeout=10)
        last = {}
        for line in sout.splitlines():
            m = re.match(r"(.*): (\d+) frames \((\d+) repeats, (\d+) missing\)", line)
            if m:
                last[m.group(1)] = line
        check("alexnet-mqtt-summary: both streams by their file's location",
              sorted(last) == sorted([video, video2]), f"{sorted(last)}\n{sout[-800:]}{serr}")
        for src, line in last.items():
            check(f"mqtt: {os.path.basename(src)}: every frame once, none missing, its stats",
                  line.startswith(f"{src}: {FRAMES} frames (0 repeats, 0 missing)") and
                  re.search(r", p95 [0-9.]+ ms, 0 dropped$", line) is not None, line)
    finally:
        if summary and summary.poll() is None:
            summary.kill()
            summary.wait()
        broker.terminate()
        broker.wait(timeout=10)


def main():
    if not os.path.isfile(os.path.join(PLUGIN_DIR, "libgstalexnet.so")):
        print(f"FAIL: the plugin {PLUGIN_DIR}/libgstalexnet.so is not built")
        return 1
    if not exists("alexnetclassify"):
        rc, out, err = run(["gst-inspect-1.0", "alexnetclassify"])
        print(f"FAIL: alexnetclassify does not load from {PLUGIN_DIR}:\n{out}{err}")
        return 1
    for el in ("videotestsrc", "decodebin", "videoconvert", "fakesink"):
        if not exists(el):
            skip(f"GStreamer element {el} missing (gstreamer1.0-plugins-base)")
    if exists("vp8enc") and exists("webmmux") and exists("vp8dec"):
        enc, ext = ["vp8enc", "deadline=1", "!", "webmmux"], "webm"
    elif exists("theoraenc") and exists("oggmux") and exists("theoradec"):
        enc, ext = ["theoraenc", "!", "oggmux"], "ogv"
    else:
        skip("no video encoder: needs vp8enc+webmmux (plugins-good) or theoraenc+oggmux (plugins-base)")

    video = os.path.join(tmp, f"in.{ext}")
    rc, out, err = run(["gst-launch-1.0", "-q", "videotestsrc", f"num-buffers={FRAMES}",
                        "pattern=ball", "!", "video/x-raw,width=320,height=240,framerate=30/1",
                        "!", *enc, "!", "filesink", f"location={video}"])
    if rc != 0:
        print(f"FAIL: could not generate the test video:\n{err}")
        return 1
    check(f"generated video has {FRAMES} frames", count_frames(video)[0] == FRAMES)
    model = os.path.join(tmp, "m.safetensors")
    subprocess.run([MAKE_MODEL, model, "small-32", "10", "7"], check=True)

    # --- headless.sh: one result per frame, in order -----------------------------------------
    def headless(name="headless.sh", extra_env=None, path=video):
        rc, out, err = run([script(name), model, path], extra_env)
        lines = out.splitlines()
        return rc, lines, err

    def field(line, name):
        m = re.search(r"(?:^|, )" + re.escape(name) + r"=([^,]*)", line)
        return m and m.group(1)

    rc, lines, err = headless(extra_env={"TOP_K": "3"})
    check("headless.sh exits 0", rc == 0, err)
    check(f"headless.sh: one line per frame ({FRAMES})", len(lines) == FRAMES,
          f"{len(lines)} lines\n{err}")
    pts = [field(l, "pts") for l in lines]
    check("headless.sh: every line has pts, label, label_id, confidence",
          all(p is not None and field(l, "label_id") is not None and "label=" in l and
              field(l, "confidence") is not None for p, l in zip(pts, lines)), "\n".join(lines[:3]))
    try:
        pts_ns = [int(p) for p in pts]
    except (TypeError, ValueError):
        pts_ns = []
    check("headless.sh: pts strictly increasing", len(pts_ns) == FRAMES and
          all(a < b for a, b in zip(pts_ns, pts_ns[1:])), str(pts[:5]))
    headless_top1 = {field(l, "pts"): field(l, "label_id") for l in lines}
    check("headless.sh: summary on stderr", f"{FRAMES} frames in " in err, err[-500:])

    # multi-stream.sh: three streams through one shared model, batched together; each stream
    # gets every frame in order, with headless.sh's results.
    rc, out, err = run([script("multi-stream.sh"), model, video, video, video], {"TOP_K": "3"})
    per_stream = {}
    for l in out.splitlines():
        m = re.match(r"stream=(\d+) (.*)$", l)
        if m:
            per_stream.setdefault(m.group(1), []).append(m.group(2))
    check("multi-stream.sh: three streams, one line per frame each",
          rc == 0 and sorted(per_stream) == ["0", "1", "2"] and
          all(len(v) == FRAMES for v in per_stream.values()),
          f"rc={rc} {[(k, len(v)) for k, v in per_stream.items()]} {err[-800:]}")
    check("multi-stream.sh: each stream in order with headless.sh's results",
          all([field(l, "pts") for l in v] == pts and
              all(field(l, "label_id") == headless_top1[field(l, "pts")] for l in v)
              for v in per_stream.values()), str({k: v[:2] for k, v in per_stream.items()}))

    # Two CPU workers: same results, same order.
    rc, lines2, err = headless(extra_env={"DEVICE": "cpu,cpu", "TOP_K": "3"})
    check("headless.sh DEVICE=cpu,cpu: same results in the same order",
          rc == 0 and [field(l, "pts") for l in lines2] == pts and
          [field(l, "label_id") for l in lines2] == [field(l, "label_id") for l in lines],
          err[-1000:])

    # INTERVAL=4: still one line per frame, every 4th classified, the others carry it.
    rc, lines4, err = headless(extra_env={"INTERVAL": "4", "TOP_K": "3"})
    classified = [field(l, "classified") for l in lines4]
    check("headless.sh INTERVAL=4: one line per frame, every 4th classified",
          rc == 0 and len(lines4) == FRAMES and
          classified == ["true" if i % 4 == 0 else "false" for i in range(FRAMES)],
          f"rc={rc} {classified[:8]} {err[-800:]}")
    check("headless.sh INTERVAL=4: carried frames repeat the last result",
          len(lines4) == FRAMES and
          all(field(lines4[i], "label_id") == field(lines4[i - i % 4], "label_id") and
              field(lines4[i], "confidence") == field(lines4[i - i % 4], "confidence")
              for i in range(FRAMES)), "\n".join(lines4[:5]))

    # --- two-gpus.sh: the element's clear error until the CUDA backend lands ---------------------
    rc, lines, err = headless("two-gpus.sh", {"DEVICE": ""})  # its default, gpu:0,gpu:1
    if rc == 0:
        check("two-gpus.sh: one line per frame", len(lines) == FRAMES, err)
    else:
        check("two-gpus.sh without two usable GPUs: error naming the GPU device",
              "gpu" in err.lower() or "cuda" in err.lower(), err[-1500:])
    rc, lines, err = headless("two-gpus.sh", {"DEVICE": "cpu,cpu"})
    check("two-gpus.sh DEVICE=cpu,cpu: one line per frame", rc == 0 and len(lines) == FRAMES,
          err[-1000:])
    rc, lines5, err = headless("two-gpus.sh", {"DEVICE": "cpu,cpu", "PARALLEL": "model"})
    check("two-gpus.sh PARALLEL=model on cpu,cpu: the one-device results in order",
          rc == 0 and [field(l, "pts") for l in lines5] == pts and
          [field(l, "label_id") for l in lines5] == [field(l, "label_id") for l in lines2],
          err[-1000:])
    rc, _, err = headless("headless.sh", {"PARALLEL": "pipeline"})
    check("PARALLEL=pipeline: usage error (exit 2) naming PARALLEL", rc == 2 and "PARALLEL" in err,
          f"rc={rc} {err[-500:]}")

    # --- file-to-file.sh: annotated output with every frame ------------------------------------
    outputs = []
    if exists("vp8enc") and exists("webmmux"):
        outputs.append("webm")
    if exists("theoraenc") and exists("oggmux"):
        outputs.append("ogv")
    if exists("mp4mux") and (exists("x264enc") or exists("avenc_mpeg4")) and \
            (exists("avdec_h264") or exists("avdec_mpeg4")):
        outputs.append("mp4")
    for oext in outputs:
        out_path = os.path.join(tmp, f"out dir/annotated.{oext}")  # a space in the path
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        rc, out, err = run([script("file-to-file.sh"), model, video, out_path])
        check(f"file-to-file.sh .{oext} exits 0", rc == 0, err[-1500:])
        frames, size = count_frames(out_path) if os.path.exists(out_path) else (-2, None)
        check(f"file-to-file.sh .{oext}: output decodes with {FRAMES} frames of 320x240",
              frames == FRAMES and size == (320, 240), f"frames={frames} size={size}")

    # file-to-screen.sh: no display → clear error; with SINK=fakesink it runs.
    rc, out, err = run([script("file-to-screen.sh"), model, video])
    check("file-to-screen.sh without a display: clear error, exit 1",
          rc == 1 and "no display" in err, err)
    rc, out, err = run([script("file-to-screen.sh"), model, video], {"SINK": "fakesink sync=false"})
    check("file-to-screen.sh SINK=fakesink runs", rc == 0, err[-1500:])

    # --- alexnet-analyze: JSON per frame from GstAlexNetMeta ------------------------------------
    rc, out, err = run([ANALYZE, "--device", "cpu", "--threads", "1", "-k", "3", model, video])
    check("alexnet-analyze exits 0", rc == 0, err[-1500:])
    objs = []
    try:
        objs = [json.loads(l) for l in out.splitlines()]
        parsed = True
    except ValueError as e:
        parsed = False
        check("alexnet-analyze: every line is JSON", False, f"{e}\n{out[:500]}")
    if parsed:
        check(f"alexnet-analyze: one JSON line per frame ({FRAMES})", len(objs) == FRAMES,
              f"{len(objs)} lines")
        good = all(set(o) == {"pts", "labels", "scores", "ids"} and
                   len(o["labels"]) == len(o["scores"]) == len(o["ids"]) == 3 and
                   all(isinstance(x, str) for x in o["labels"]) and
                   all(0 <= i < 10 for i in o["ids"]) and
                   all(0.0 <= s <= 1.0 for s in o["scores"]) and
                   all(a >= b for a, b in zip(o["scores"], o["scores"][1:])) for o in objs)
        check("alexnet-analyze: pts, 3 labels/scores/ids each, scores sorted in [0, 1]", good,
              out[:400])
        check("alexnet-analyze: pts as in headless.sh",
              [str(o["pts"]) for o in objs] == pts, f"{[o['pts'] for o in objs[:4]]} vs {pts[:4]}")
        check("alexnet-analyze: top-1 ids equal headless.sh's label_id",
              all(headless_top1.get(str(o["pts"])) == str(o["ids"][0]) for o in objs),
              f"{[o['ids'][0] for o in objs[:6]]} vs {list(headless_top1.values())[:6]}")

    if parsed:
        test_streams(model, video, objs)
    test_mqtt_streams(model, video)

    rc, out, err = run([ANALYZE, "--help"])
    check("alexnet-analyze --help exits 0 with usage", rc == 0 and "usage:" in out, out + err)
    for args, why in (([], "no arguments"), ([model], "one argument"),
                      (["--frobnicate", model, video], "unknown option"),
                      (["--set", "no-such-property=1", model, video], "unknown property"),
                      (["--top-k", "many", model, video], "invalid value")):
        rc, out, err = run([ANALYZE, *args])
        check(f"alexnet-analyze usage error ({why}) exits 2", rc == 2 and err.strip() != "",
              f"rc={rc} {err}")

    # --- error paths -------------------------------------------------------------------------
    missing = os.path.join(tmp, "no-such-model.safetensors")
    corrupt = os.path.join(tmp, "corrupt.safetensors")
    with open(corrupt, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    for name, args in (("headless.sh", [video]), ("file-to-file.sh", [video, os.path.join(tmp, "x.webm")]),
                       ("file-to-screen.sh", [video]), ("two-gpus.sh", [video]),
                       ("webcam.sh", []), ("multi-stream.sh", [video, video]),
                       ("detect-classify.sh", [video])):
        rc, out, err = run([script(name), missing, *args])
        check(f"{name}: missing model → exit 1 naming the file", rc == 1 and missing in err and
              "not found" in err, f"rc={rc} {err}")
        rc, out, err = run([script(name)])
        check(f"{name}: no arguments → usage, exit 2", rc == 2 and "usage:" in err, f"rc={rc} {err}")
        rc, out, err = run([script(name), "--help"])
        check(f"{name} --help exits 0", rc == 0 and "usage:" in out, f"rc={rc} {out}{err}")
    rc, out, err = run([script("headless.sh"), corrupt, video])
    check("headless.sh: corrupt model → nonzero exit, element error naming the file",
          rc != 0 and "corrupt.safetensors" in err and len(out.strip()) == 0, f"rc={rc} {err[-1500:]}")
    rc, out, err = run([ANALYZE, missing, video])
    check("alexnet-analyze: missing model → exit 1, the element's error naming the file",
          rc == 1 and "no-such-model.safetensors" in err, f"rc={rc} {err}")
    rc, out, err = run([ANALYZE, corrupt, video])
    check("alexnet-analyze: corrupt model → exit 1, error naming the file",
          rc == 1 and "corrupt.safetensors" in err, f"rc={rc} {err}")
    rc, out, err = run([ANALYZE, model, os.path.join(tmp, "no-such-video.webm")])
    check("alexnet-analyze: missing video → exit 1", rc == 1 and "no-such-video" in err, err)
    rc, out, err = run([script("headless.sh"), model, os.path.join(tmp, "no-such-video.webm")])
    check("headless.sh: missing video → exit 1 naming it", rc == 1 and "no-such-video" in err, err)
    rc, out, err = run([script("webcam.sh"), model, "/dev/video-no-such-camera"])
    check("webcam.sh: missing camera → exit 1 naming it",
          rc == 1 and "/dev/video-no-such-camera" in err and "not found" in err, err)
    rc, out, err = run([script("file-to-file.sh"), model, video, os.path.join(tmp, "x.avi")])
    check("file-to-file.sh: unknown output type → exit 2", rc == 2, err)
    rc, out, err = run([script("headless.sh"), model, video], {"TOP_K": "zero"})
    check("headless.sh: TOP_K=zero → exit 1 naming TOP_K", rc == 1 and "TOP_K" in err, err)
    empty_dir = os.path.join(tmp, "no-plugins")
    os.makedirs(empty_dir, exist_ok=True)
    rc, out, err = run([script("headless.sh"), model, video],
                       {"GST_PLUGIN_PATH": empty_dir,
                        "GST_REGISTRY_1_0": os.path.join(tmp, "registry-empty.bin")})
    check("headless.sh without the plugin: exit 1 suggesting GST_PLUGIN_PATH",
          rc == 1 and "GST_PLUGIN_PATH=" in err, err)
    rc, out, err = run([ANALYZE, model, video],
                       {"GST_PLUGIN_PATH": empty_dir,
                        "GST_REGISTRY_1_0": os.path.join(tmp, "registry-empty.bin")})
    check("alexnet-analyze without the plugin: exit 1 suggesting GST_PLUGIN_PATH",
          rc == 1 and "GST_PLUGIN_PATH" in err, err)

    print(f"{len(failures)} failure(s)" if failures else "all passed")
    return 1 if failures else 0


try:
    status = main()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
sys.exit(status)
