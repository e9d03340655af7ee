"""pipelines/detect-classify.sh end to end: a real detector (OpenCV's facedetect, Debian's
gstreamer1.0-opencv + opencv-data) finds the face in tests/data/astronaut-320.jpg and
alexnetclassify inference-region=roi-list classifies it. Fails if the detector finds no face,
or the element reports no classified face object.

Usage: test_detect_classify.py PLUGIN_DIR MAKE_MODEL PIPELINES_DIR PICTURE [GST_SYSTEM_PLUGIN_DIR]
Exit 77 (skipped) without facedetect or the cascades (scripts/test installs them).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

PLUGIN_DIR, MAKE_MODEL, PIPELINES, PICTURE = sys.argv[1:5]
SYSTEM_PLUGINS = sys.argv[5] if len(sys.argv) > 5 else ""

tmp = tempfile.mkdtemp(prefix="alexnet-detect-")
env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "ELEMENT_OPTS")}
env.update({"GST_PLUGIN_PATH": PLUGIN_DIR, "GST_REGISTRY_1_0": os.path.join(tmp, "registry.bin"),
            "G_DEBUG": "fatal-criticals", "DEVICE": "cpu", "THREADS": "1"})
if SYSTEM_PLUGINS:
    env["GST_PLUGIN_SYSTEM_PATH"] = SYSTEM_PLUGINS


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    return p.returncode, p.stdout, p.stderr


try:
    if not shutil.which("gst-inspect-1.0"):
        print("SKIP: gst-inspect-1.0 not found (Debian: gstreamer1.0-tools)")
        sys.exit(77)
    if run(["gst-inspect-1.0", "--exists", "facedetect"])[0] != 0:
        print("SKIP: facedetect not found (Debian: apt install gstreamer1.0-opencv opencv-data)")
        sys.exit(77)
    if not os.path.exists("/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"):
        print("SKIP: OpenCV's Haar cascades not found (Debian: apt install opencv-data)")
        sys.exit(77)
    model = os.path.join(tmp, "m.safetensors")
    subprocess.run([MAKE_MODEL, model, "small-32", "10", "7"], check=True)

    # the detector alone: it must see the face, or the picture is no test
    rc, out, err = run(["gst-launch-1.0", "-m", "filesrc", f"location={PICTURE}", "!", "decodebin",
                        "!", "videoconvert", "!", "facedetect", "display=false", "!", "fakesink"])
    faces = re.findall(r"face\\?,\\? x\\?=\\?\(uint\\?\)(\d+)", out)
    print(f"facedetect alone: rc {rc}, {len(faces)} face(s) at x {faces}")
    if rc != 0 or not faces:
        print("FAIL: facedetect found no face in the test picture\n" + out[-2000:] + err[-2000:])
        sys.exit(1)

    rc, out, err = run([os.path.join(PIPELINES, "detect-classify.sh"), model, PICTURE])
    lines = [l for l in out.splitlines() if l.startswith("pts=")]
    print(f"detect-classify.sh: rc {rc}, {len(lines)} line(s)")
    for l in lines:
        print("  " + l[:300])
    ok = rc == 0 and len(lines) == 1
    line = lines[0] if lines else ""
    objects = re.findall(r'"object\\,(.*?)\\;"', line)
    ok = ok and "classified=true" in line and len(objects) == len(faces)
    for o in objects:
        ok = ok and "roi-type\\=\\(string\\)face" in o and "label\\=\\(string\\)class_" in o
    box = re.search(r"x\\=\\\(uint\\\)(\d+)", line)
    ok = ok and box is not None and box.group(1) == faces[0]
    if not ok:
        print("FAIL: expected one line with every detected face classified (roi-type face, a "
              "label, the detector's box)\n" + out[-2000:] + err[-2000:])
        sys.exit(1)
    print("ok   the detected face was classified")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
