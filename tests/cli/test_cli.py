"""alexnet-classify end to end: outputs, JSON Lines, --logits, and every exit code.

Usage: test_cli.py ALEXNET_CLASSIFY MAKE_MODEL
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import cv2
    import numpy as np
except ImportError as e:  # meson: 77 = skipped
    print(f"SKIP: needs python3-numpy and python3-opencv ({e})")
    sys.exit(77)

CLASSIFY, MAKE_MODEL = sys.argv[1], sys.argv[2]
failures = []


def run(*args):
    p = subprocess.run([CLASSIFY, *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f"\n     {detail}"))
    if not cond:
        failures.append(name)


with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "m.safetensors")
    subprocess.run([MAKE_MODEL, model, "small-32", "10", "1"], check=True)
    rng = np.random.default_rng(0)
    imgs = []
    for i, (h, w) in enumerate([(48, 64), (100, 37), (32, 32)]):
        path = os.path.join(tmp, f"img{i}.png" if i != 1 else f"img{i}.jpg")
        cv2.imwrite(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        imgs.append(path)

    # Plain and JSON output, one object per input, in order; probabilities sorted.
    rc, out, err = run("--model", model, "--top-k", "3", "--device", "cpu", *imgs)
    check("plain output exits 0", rc == 0, err)
    check("plain output names each input", all(p in out for p in imgs), out)
    rc, out, err = run("--model", model, "--json", "-k", "4", *imgs)
    lines = [json.loads(l) for l in out.splitlines()]
    check("json: one line per input", rc == 0 and [l["input"] for l in lines] == imgs, out + err)
    ok = all(len(l["top"]) == 4 and
             all(a["probability"] >= b["probability"] for a, b in zip(l["top"], l["top"][1:])) and
             all(set(t) == {"index", "label", "probability"} for t in l["top"]) for l in lines)
    check("json: top-k sorted with index/label/probability", ok, out)

    # --logits agrees with the printed probabilities; cpu,cpu gives the same logits.
    lg = os.path.join(tmp, "logits.npy")
    rc, out, err = run("--model", model, "--json", "-k", "10", "--logits", lg, *imgs)
    logits = np.load(lg)
    check("--logits shape", rc == 0 and logits.shape == (3, 10), f"{err} {getattr(logits, 'shape', None)}")
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    got = np.zeros_like(p)
    for i, l in enumerate(json.loads(x) for x in out.splitlines()):
        for t in l["top"]:
            got[i, t["index"]] = t["probability"]
    check("--logits softmax = printed probabilities", np.abs(got - p).max() < 1e-5, f"{got}\n{p}")
    lg2 = os.path.join(tmp, "logits2.npy")
    rc, _, err = run("--model", model, "--device", "cpu,cpu", "--batch-size", "2", "--logits", lg2, *imgs)
    check("cpu,cpu with batches of 2 gives the same logits",
          rc == 0 and np.abs(np.load(lg2) - logits).max() <= 1e-5 * np.abs(logits).max(), err)

    # --parallel model: the paper's split over cpu,cpu gives one device's logits.
    lg3 = os.path.join(tmp, "logits3.npy")
    rc, _, err = run("--model", model, "--device", "cpu,cpu", "--parallel", "model", "--verbose",
                     "--logits", lg3, *imgs)
    check("--parallel model on cpu,cpu gives the same logits",
          rc == 0 and np.abs(np.load(lg3) - logits).max() <= 1e-5 * np.abs(logits).max(), err)
    check("--verbose says model-parallel", "model-parallel" in err, err)

    # A .npy input is taken as the preprocessed tensor.
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    xp = os.path.join(tmp, "x.npy")
    np.save(xp, x)
    rc, out, err = run("--model", model, "--json", xp)
    check(".npy input: one line per row", rc == 0 and [json.loads(l)["input"] for l in out.splitlines()]
          == [xp + "[0]", xp + "[1]"], out + err)

    # Labels override.
    labels = os.path.join(tmp, "labels.txt")
    open(labels, "w").write("".join(f"thing {i}\n" for i in range(10)))
    rc, out, err = run("--model", model, "--labels", labels, "--json", "-k", "1", imgs[0])
    check("--labels overrides", rc == 0 and json.loads(out)["top"][0]["label"].startswith("thing "), out + err)

    # Usage errors: exit 2, one clear line.
    for args, text in [((), "--model is required"),
                       (("--model", model), "no input files"),
                       (("--model", model, "--top-k", "x", imgs[0]), "--top-k"),
                       (("--model", model, "--top-k", "0", imgs[0]), "--top-k"),
                       (("--model", model, "--threads", "-1", imgs[0]), "--threads"),
                       (("--model", model, "--device", "tpu", imgs[0]), "--device"),
                       (("--model", model, "--bogus", imgs[0]), "unknown option '--bogus'"),
                       (("--model", model, "--parallel", "pipe", imgs[0]), "--parallel"),
                       (("--model", model, "--parallel", "model", "--device", "cpu", imgs[0]),
                        "--parallel model needs exactly two devices"),
                       (("--model",), "needs a value")]:
        rc, out, err = run(*args)
        check(f"usage error {args[-1:]} → 2: {text}", rc == 2 and text in err, f"rc={rc} {err}")
    rc, out, err = run("--help")
    check("--help exits 0 and documents every option", rc == 0 and all(
        o in out for o in ["--model", "--labels", "--top-k", "--device", "--threads", "--json",
                           "--logits", "--batch-size", "--parallel", "--precision"]), out)

    # Runtime errors: exit 1 naming the file.
    corrupt = os.path.join(tmp, "corrupt.jpg")
    open(corrupt, "wb").write(b"\xff\xd8\xff\xe0 not really a jpeg")
    empty = os.path.join(tmp, "empty.png")
    open(empty, "wb").close()
    bad_npy = os.path.join(tmp, "bad.npy")
    np.save(bad_npy, np.zeros((1, 3, 31, 32), np.float32))
    f64_npy = os.path.join(tmp, "f64.npy")
    np.save(f64_npy, np.zeros((1, 3, 32, 32)))
    bad_model = os.path.join(tmp, "bad.safetensors")
    open(bad_model, "wb").write(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    for args, name, text in [
            (("--model", os.path.join(tmp, "missing.safetensors"), imgs[0]), "missing.safetensors", ""),
            (("--model", bad_model, imgs[0]), "bad.safetensors", ""),
            (("--model", model, corrupt), "corrupt.jpg", "cannot decode"),
            (("--model", model, empty), "empty.png", "cannot decode"),
            (("--model", model, os.path.join(tmp, "nope.png")), "nope.png", "cannot open"),
            (("--model", model, bad_npy), "bad.npy", "expected (N, 3, 32, 32)"),
            (("--model", model, f64_npy), "f64.npy", "<f4"),
            (("--model", model, "--device", "gpu:0", imgs[0]), "gpu:0", "not available"),
            (("--model", model, "--labels", os.path.join(tmp, "nolabels.txt"), imgs[0]), "nolabels.txt", "")]:
        rc, out, err = run(*args)
        # Our one line comes last (libjpeg may print its own warning before it).
        last = err.strip().splitlines()[-1] if err.strip() else ""
        check(f"runtime error {name} → 1", rc == 1 and last.startswith("alexnet-classify: ")
              and name in last and text in last, f"rc={rc} {err}")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
