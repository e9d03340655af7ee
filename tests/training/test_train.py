"""alexnet-train end to end, on CPU: learning, exact resume, crash safety, NaN refusal, bad
images, bad arguments and headers, and agreement with alexnet-classify.

Usage: test_train.py CASE ALEXNET_TRAIN ALEXNET_CLASSIFY
CASE: learn | faults | resume | data-parallel | model-parallel | checkpoint-kill | nan | folder | errors | classify
Exit 0 = pass, 1 = fail, 77 = skipped (meson's convention).
"""
import csv
import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile

try:
    import cv2
    import numpy as np
except ImportError as e:
    print(f"SKIP: needs python3-numpy and python3-opencv ({e})")
    sys.exit(77)

CASE, TRAIN, CLASSIFY = sys.argv[1], sys.argv[2], sys.argv[3]
CALIBRATE = os.path.join(os.path.dirname(TRAIN), "alexnet-calibrate")
FASHION = "/usr/share/datasets/fashion-mnist"
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f"\n     {detail}"))
    if not cond:
        failures.append(name)


def run(*args, timeout=600):
    p = subprocess.run([TRAIN, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def need_fashion():
    if not os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")):
        print(f"SKIP: {FASHION} is absent (Debian package dataset-fashion-mnist)")
        sys.exit(77)


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
               for k, v in header.items()}
    return tensors, meta


def floats(t):
    return np.frombuffer(t[2], dtype="<f4")


def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return list(csv.DictReader(f))


# Small, quick runs: the small-28 network on a Fashion-MNIST subset, fixed seed, one network
# thread (bit-reproducible for a fixed count; and one OpenMP thread does not spin-wait on a
# busy CI machine the way two do).
def fashion_args(run_dir, *extra):
    return ["--data", FASHION, "--val", FASHION, "--config", "small-28", "--threads", "1",
            "--workers", "2", "--seed", "7", "--run-dir", run_dir, "--init", "kaiming",
            "--checkpoint-minutes", "0", *extra]


def case_learn(tmp):
    """600 steps (4 epochs of 9,600 images, batches of 64) reach >= 80% on 1,000 test images.

    Measured: 83.8% (seed 7, one thread), about a minute on an idle core. No augmentation (it slows
    the first epochs down), dropout 0.5, the plateau schedule with patience 1."""
    need_fashion()
    run_dir = os.path.join(tmp, "run")
    rc, out, err = run(*fashion_args(run_dir, "--limit-train", "9600", "--limit-val", "1000",
                                     "--batch-size", "64", "--lr", "0.02", "--epochs", "4",
                                     "--augment", "none", "--dropout", "0.5",
                                     "--lr-patience", "1", "--test", FASHION))
    check("trains and exits 0", rc == 0, out[-2000:] + err)
    if rc != 0:
        return
    check("the log says that --val reads the test split, and that --val and --test overlap",
          "reads that folder's test split" in out and "--val and --test read the same" in out,
          out[:3000])
    test_line = [l for l in out.splitlines() if l.startswith("test: ")]
    check("--test: one line with the test accuracy on 10,000 images",
          len(test_line) == 1 and "on 10000 images" in test_line[0], "\n".join(test_line))
    rows = metrics(run_dir)
    acc = 1 - float(rows[-1]["val_top1_error"])
    print(f"     steps {rows[-1]['step']}, test accuracy {acc:.3f}, "
          f"{float(rows[-1]['images_per_second']):.0f} img/s")
    check("accuracy >= 80% on 1,000 test images", acc >= 0.80, f"{acc:.3f}\n{out}")
    model = os.path.join(run_dir, "alexnet.safetensors")
    t, meta = read_safetensors(model)
    prov = json.loads(meta.get("alexnet.provenance", "{}"))
    check("provenance names the data set, epochs, errors, date, seed",
          "fashion" in prov.get("dataset", "") and prov.get("epochs") == 4 and
          "val_top1_error" in prov and "date" in prov and prov.get("seed") == 7, str(prov))
    test = prov.get("test", {})
    check("provenance holds the test result (10,000 images, accuracy >= 80%)",
          test.get("images") == 10000 and 1 - test.get("top1_error", 1) >= 0.80, str(test))
    labels = json.loads(meta.get("alexnet.labels", "[]"))
    check("labels are Fashion-MNIST's", labels[:2] == ["T-shirt/top", "Trouser"], str(labels))
    for f in ["curves.png", "conv1_filters.png", "metrics.csv", "train.log",
              "checkpoint.safetensors"]:
        path = os.path.join(run_dir, f)
        check(f"run folder has {f}", os.path.getsize(path) > 0 if os.path.exists(path) else False)
    img = cv2.imread(os.path.join(run_dir, "curves.png"))
    check("curves.png decodes", img is not None and img.shape[0] > 100)
    precisions_agree(tmp, model)
    # The weights loader refuses a checkpoint.
    p = subprocess.run([CLASSIFY, "--model", os.path.join(run_dir, "checkpoint.safetensors"),
                        os.path.join(run_dir, "curves.png")], capture_output=True, text=True)
    check("alexnet-classify refuses a checkpoint as weights",
          p.returncode == 1 and "checkpoint" in p.stderr, p.stderr)


def short_run(run_dir, *extra):
    # 640 images, batches of 32: 20 steps an epoch; 50 steps cross two epoch ends.
    return fashion_args(run_dir, "--limit-train", "640", "--limit-val", "200", "--batch-size",
                        "32", "--epochs", "10", "--max-steps", "50", "--checkpoint-steps", "10",
                        "--lr-patience", "1", *extra)


def same_weights(a, b):
    ta, _ = read_safetensors(a)
    tb, _ = read_safetensors(b)
    names = [n for n in ta if not n.startswith("optimizer.") and not n.startswith("state.")]
    return set(ta) == set(tb) and all(ta[n][2] == tb[n][2] for n in ta), names


def worst_weight_diff(a, b):
    """The largest |b - a| over every weight and bias tensor, relative to the tensor's largest
    |a|: how far two runs' weights have parted."""
    ta, _ = read_safetensors(a)
    tb, _ = read_safetensors(b)
    return max(float(np.abs(floats(tb[n]) - floats(ta[n])).max() / np.abs(floats(ta[n])).max())
               for n in ta if ta[n][0] == "F32" and n.split(".")[0] in
               ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"))


def case_resume(tmp):
    """Killed with SIGKILL after a checkpoint and resumed: bit-identical to an uninterrupted run."""
    need_fashion()
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    rc, out, err = run(*short_run(a))
    check("uninterrupted run exits 0", rc == 0, out[-2000:] + err)
    rc, out, err = run(*short_run(b, "--debug-kill-after-step", "33"))
    check("run B dies of SIGKILL after step 33", rc == -signal.SIGKILL, f"{rc}\n{out[-2000:]}{err}")
    _, meta = read_safetensors(os.path.join(b, "checkpoint.safetensors"))
    state = json.loads(meta["alexnet.checkpoint"])
    check("B's last checkpoint is step 30 (mid epoch 2)",
          state["step"] == 30 and state["epoch"] == 1 and state["batch"] == 10, str(state)[:300])
    rc, out, err = run("--resume", b)
    check("resume exits 0", rc == 0, out[-2000:] + err)
    for f in ["alexnet.safetensors", "checkpoint.safetensors"]:
        same, names = same_weights(os.path.join(a, f), os.path.join(b, f))
        check(f"{f}: every tensor bit-identical", same)
    check("metrics of the resumed run equal the uninterrupted run's",
          [(r["epoch"], r["step"], r["train_loss"], r["val_top1_error"]) for r in metrics(a)] ==
          [(r["epoch"], r["step"], r["train_loss"], r["val_top1_error"]) for r in metrics(b)],
          f"{metrics(a)}\n{metrics(b)}")
    rc, out, err = run("--resume", b, "--lr", "0.5")
    check("--resume refuses a changed --lr (exit 2, one line)",
          rc == 2 and len(err.strip().splitlines()) == 1 and "--lr" in err, err)


def trains_like_one_device(tmp, what, args, extra=()):
    """Two steps of `args` (a parallel run) and of one device from the same start: every
    weight within 1e-4 of its tensor's largest. Not more steps: once the weights differ by
    rounding (two half-batch gradient sums; half-width layers' kernels), a ReLU input or a
    max-pool pair within rounding of a tie can take the other branch and the runs part by
    O(lr * dy), both right (issue 12; seen for data-parallel: 1.1e-6 after 5 steps, 1.2e-3
    after 10). checkpoint.safetensors holds the last step."""
    one, par = os.path.join(tmp, "one"), os.path.join(tmp, "par")
    for d, a in ((one, ["--device", "cpu"]), (par, args)):
        rc, out, err = run(*short_run(d, *a, "--max-steps", "2", "--checkpoint-steps", "1",
                                      *extra))
        check(f"{' '.join(a)} run exits 0", rc == 0, out[-2000:] + err)
    worst = worst_weight_diff(os.path.join(one, "checkpoint.safetensors"),
                              os.path.join(par, "checkpoint.safetensors"))
    check(f"{what} weights equal one device's within 1e-4 after 2 steps (worst {worst:.2e})",
          worst <= 1e-4)


def resumes_bit_identical(tmp, what, args, steps, kill_after, checkpoint_every, file):
    """`args` run for `steps` steps uninterrupted, and again killed with SIGKILL after step
    `kill_after` and resumed: `file` of the two runs bit-identical."""
    a, b = os.path.join(tmp, "whole"), os.path.join(tmp, "killed")
    common = ["--max-steps", str(steps), "--checkpoint-steps", str(checkpoint_every)]
    rc, out, err = run(*short_run(a, *args, *common))
    check(f"{what} uninterrupted run exits 0", rc == 0, out[-2000:] + err)
    rc, out, err = run(*short_run(b, *args, *common, "--debug-kill-after-step", str(kill_after)))
    check(f"{what} run dies of SIGKILL after step {kill_after}", rc == -signal.SIGKILL,
          f"{rc} {err}")
    rc, out, err = run("--resume", b)
    check("resume exits 0", rc == 0, out[-2000:] + err)
    same, _ = same_weights(os.path.join(a, file), os.path.join(b, file))
    check(f"resumed {what} {file} bit-identical to the uninterrupted run's", same)


def case_data_parallel(tmp):
    """--device cpu,cpu: two replicas train like one device, and kill + resume stays
    bit-identical. The replicas draw one device's dropout masks (each indexes its rows' place in
    the whole batch), so dropout stays on and the runs differ by float rounding only.
    (This replaced "validation top-1 error < 0.6 after 50 steps", a coin toss across CPUs:
    0.665 on an AVX-512 machine. Learning itself is case_learn's: 600 steps to >= 80%.)"""
    need_fashion()
    out = run(*short_run(os.path.join(tmp, "probe"), "--device", "cpu,cpu", "--max-steps", "1"))
    check("cpu,cpu runs as 2 replicas", out[0] == 0 and "2 replicas" in out[1], out[1][-2000:])
    trains_like_one_device(os.path.join(tmp, "compare"), "data-parallel",
                           ["--device", "cpu,cpu"])
    resumes_bit_identical(os.path.join(tmp, "resume"), "cpu,cpu", ["--device", "cpu,cpu"], 50,
                          27, 10, "alexnet.safetensors")


def case_model_parallel(tmp):
    """--parallel model on cpu,cpu: the paper's split trains like one device (dropout on: both
    draw one device's masks; measured 8.7e-7 after 2 steps), and kill + resume stays
    bit-identical."""
    need_fashion()
    out = run(*short_run(os.path.join(tmp, "probe"), "--device", "cpu,cpu", "--parallel",
                         "model", "--max-steps", "1"))
    check("--parallel model says so", out[0] == 0 and "model-parallel" in out[1], out[1][-2000:])
    trains_like_one_device(os.path.join(tmp, "compare"), "model-parallel",
                           ["--device", "cpu,cpu", "--parallel", "model"])
    resumes_bit_identical(os.path.join(tmp, "resume"), "model-parallel",
                          ["--device", "cpu,cpu", "--parallel", "model"], 10, 7, 5,
                          "checkpoint.safetensors")


def case_checkpoint_kill(tmp):
    """A checkpoint write killed midway leaves the previous checkpoint whole and resumable."""
    need_fashion()
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    rc, out, err = run(*short_run(b, "--debug-kill-in-checkpoint", "2"))
    check("run dies of SIGKILL in its 2nd checkpoint write", rc == -signal.SIGKILL, out + err)
    stale = [f for f in os.listdir(b) if ".tmp." in f]
    check("a half-written temp file is left", len(stale) == 1, str(os.listdir(b)))
    _, meta = read_safetensors(os.path.join(b, "checkpoint.safetensors"))
    check("the checkpoint on disk is the previous one (step 10)",
          json.loads(meta["alexnet.checkpoint"])["step"] == 10)
    rc, out, err = run("--resume", os.path.join(b, "checkpoint.safetensors"))
    check("resume from it exits 0", rc == 0, out[-2000:] + err)
    check("the stale temp file is removed", not [f for f in os.listdir(b) if ".tmp." in f],
          str(os.listdir(b)))
    rc, out, err = run(*short_run(a))
    same, _ = same_weights(os.path.join(a, "alexnet.safetensors"),
                           os.path.join(b, "alexnet.safetensors"))
    check("and ends bit-identical to an uninterrupted run", rc == 0 and same)


def case_nan(tmp):
    """Non-finite steps are refused; after --max-bad-steps the run stops; no NaN checkpoint."""
    need_fashion()
    a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
    rc, out, err = run(*short_run(a, "--max-steps", "15", "--checkpoint-steps", "2",
                                  "--debug-nan-at-step", "4,9", "--max-bad-steps", "3"))
    check("two refused steps: the run goes on and exits 0", rc == 0, out[-2000:] + err)
    check("refused steps are logged", out.count("step refused") == 2, out[-2000:])
    rc, out, err = run(*short_run(b, "--checkpoint-steps", "2", "--debug-nan-at-step", "5,6,7",
                                  "--max-bad-steps", "3"))
    lines = err.strip().splitlines()
    check("three refused steps stop the run: exit 1, one clear line",
          rc == 1 and len(lines) == 1 and "max-bad-steps" in lines[0] and
          lines[0].startswith("alexnet-train: "), f"{rc} {err}")
    for d in (a, b):
        for f in os.listdir(d):
            if f.endswith(".safetensors") or ".tmp." in f:
                try:
                    ts, _ = read_safetensors(os.path.join(d, f))
                except Exception as e:  # a partial temp file would show up here
                    check(f"{f} is readable", False, str(e))
                    continue
                check(f"{os.path.basename(d)}/{f}: every value finite",
                      all(np.isfinite(floats(t)).all() for t in ts.values()))


def write_folder(root, n_per_class, rng):
    """Two classes of 32x32 colour PNG/JPEG files: bright squares vs dark squares."""
    files = []
    for c, name in enumerate(["bright", "dark"]):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(n_per_class):
            base = 160 if c == 0 else 40
            img = rng.integers(base, base + 60, (32 + i % 5, 40, 3), dtype=np.uint8)
            path = os.path.join(root, name, f"{i:03d}.png" if i % 2 else f"{i:03d}.jpg")
            cv2.imwrite(path, img)
            files.append(path)
    return files


def case_folder(tmp):
    """Corrupt/truncated/zero-byte files are skipped and named; CMYK and 16-bit ones train."""
    rng = np.random.default_rng(0)
    data = os.path.join(tmp, "data")
    write_folder(data, 24, rng)
    bad = {}
    open(os.path.join(data, "bright", "zero.png"), "wb").close()
    bad["zero.png"] = 1
    with open(os.path.join(data, "dark", "001.png"), "rb") as f:
        png = f.read()
    with open(os.path.join(data, "dark", "truncated.png"), "wb") as f:
        f.write(png[:len(png) // 3])
    bad["truncated.png"] = 1
    with open(os.path.join(data, "bright", "garbage.jpg"), "wb") as f:
        f.write(bytes(rng.integers(0, 256, 5000, dtype=np.uint8)))
    bad["garbage.jpg"] = 1
    cv2.imwrite(os.path.join(data, "dark", "sixteen.png"),
                rng.integers(0, 20000, (32, 32, 3), dtype=np.uint16))
    try:
        from PIL import Image
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).convert("CMYK").save(
            os.path.join(data, "bright", "cmyk.jpg"))
    except ImportError:
        print("     (no python3-pil: no CMYK file)")
    run_dir = os.path.join(tmp, "run")
    rc, out, err = run("--data", data, "--config", "small-32", "--val-split", "0.25",
                       "--batch-size", "8", "--epochs", "2", "--threads", "1", "--workers", "2",
                       "--run-dir", run_dir, "--init", "kaiming", "--checkpoint-minutes", "0")
    check("trains on a folder with broken files, exit 0", rc == 0, out[-3000:] + err)
    skipped_path = os.path.join(run_dir, "skipped.txt")
    listed = open(skipped_path).read() if os.path.exists(skipped_path) else ""
    for name in bad:
        check(f"skipped.txt names {name}", name in listed, listed)
        check(f"the log names {name}", name in out, out[-3000:])
    for name in ["sixteen.png", "cmyk.jpg"]:
        check(f"{name} is not reported as broken", name not in listed, listed)
    check("skipped.txt lists only the broken files",
          len([l for l in listed.splitlines() if l.strip()]) == len(bad), listed)


def start(*args, env=None):
    return subprocess.Popen([TRAIN, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_for(path, proc, timeout=300):
    """Polls until `path` exists (True) or the process ends first (False)."""
    import time
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return os.path.exists(path)
        time.sleep(0.01)
    return False


def checkpoint_step(run_dir):
    _, meta = read_safetensors(os.path.join(run_dir, "checkpoint.safetensors"))
    return json.loads(meta["alexnet.checkpoint"])["step"]


def case_faults(tmp):
    """What the trainer survives (issue 16): a full disk during a checkpoint, SIGTERM and
    SIGINT, its run folder deleted, dataset files vanishing mid-run. Each ends with a clear
    error or a clean stop, the last checkpoint intact, and --resume working: resumed runs end
    bit-identical to an uninterrupted one."""
    need_fashion()
    whole = os.path.join(tmp, "whole")
    rc, out, err = run(*short_run(whole))
    check("uninterrupted run exits 0", rc == 0, out[-2000:] + err)
    final = os.path.join(whole, "alexnet.safetensors")

    # Disk full: checkpoints at steps 10, 20 (end of epoch 1: now with the best weights), 30...
    # The shim lets 1.5 final checkpoints' bytes through: step 10's is written, step 20's fails.
    full = os.path.join(tmp, "full")
    size = os.path.getsize(os.path.join(whole, "checkpoint.safetensors"))
    env = dict(os.environ, LD_PRELOAD=os.environ["ENOSPC_SHIM"],
               ENOSPC_MATCH="checkpoint.safetensors.tmp", ENOSPC_BYTES=str(size * 3 // 2))
    p = subprocess.run([TRAIN, *short_run(full)], capture_output=True, text=True, env=env,
                       timeout=600)
    check("disk full: exit 1", p.returncode == 1, f"{p.returncode}\n{p.stderr}")
    check("disk full: the error says so and names the intact checkpoint (step 10)",
          "No space left on device" in p.stderr and "previous checkpoint (step 10)" in p.stderr
          and "intact" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr)
    check("disk full: the checkpoint on disk is step 10's, no temp file left",
          checkpoint_step(full) == 10 and not [f for f in os.listdir(full) if ".tmp." in f],
          str(os.listdir(full)))
    rc, out, err = run("--resume", full)
    same, _ = same_weights(final, os.path.join(full, "alexnet.safetensors"))
    check("disk full: --resume exits 0 and ends bit-identical to the uninterrupted run",
          rc == 0 and same, out[-2000:] + err)

    # SIGTERM and SIGINT once the first checkpoint exists: a checkpoint at the step reached,
    # exit 128 + signal, and --resume ends where the uninterrupted run did.
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        name = signal.Signals(sig).name
        d = os.path.join(tmp, name)
        proc = start(*short_run(d))
        wait_for(os.path.join(d, "checkpoint.safetensors"), proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=300)
        check(f"{name}: exit {code}", proc.returncode == code, f"{proc.returncode}\n{err}")
        if proc.returncode != code:
            continue
        step = checkpoint_step(d)
        check(f"{name}: the message names the signal, the step ({step}) and how to resume",
              f"stopped by {name} at step {step}" in err and "--resume" in err, err)
        rc, out, err = run("--resume", d)
        same, _ = same_weights(final, os.path.join(d, "alexnet.safetensors"))
        check(f"{name}: --resume exits 0 and ends bit-identical to the uninterrupted run",
              rc == 0 and same, out[-2000:] + err)

    # The run folder deleted under a running trainer: exit 1 at the next step, naming it.
    gone = os.path.join(tmp, "gone")
    proc = start(*short_run(gone))
    wait_for(os.path.join(gone, "checkpoint.safetensors"), proc)
    import shutil
    shutil.rmtree(gone, ignore_errors=True)
    out, err = proc.communicate(timeout=300)
    check("run folder deleted: exit 1 with an error naming the folder",
          proc.returncode == 1 and gone in err and len(err.strip().splitlines()) == 1,
          f"{proc.returncode}\n{err}")

    # A worker that stops responding (ALEXNET_DEBUG_STALL: it sleeps from step 3 on, as a hung
    # device would): the run ends with exit 1 and an error naming it within the bounded wait
    # (ALEXNET_DEVICE_TIMEOUT_S=2 here), never a hang. Replica 1 of data-parallel; half 0 of
    # model-parallel (the half that used to run on the caller's own thread).
    import time
    for what, worker, extra in (("data-parallel", "replica 1", []),
                                ("model-parallel", "half 0", ["--parallel", "model"])):
        d = os.path.join(tmp, "stall-" + what)
        env = dict(os.environ, ALEXNET_DEBUG_STALL=worker[-1] + ":3", ALEXNET_DEVICE_TIMEOUT_S="2")
        t0 = time.monotonic()
        p = subprocess.run([TRAIN, *short_run(d, "--device", "cpu,cpu", *extra)],
                           capture_output=True, text=True, env=env, timeout=120)
        took = time.monotonic() - t0
        check(f"{what}, {worker} stalled: exit 1 in {took:.1f} s, naming it and the timeout",
              p.returncode == 1 and worker in p.stderr and "did not finish" in p.stderr and
              "ALEXNET_DEVICE_TIMEOUT_S" in p.stderr and took < 60, f"{p.returncode}\n{p.stderr}")

    # Dataset files vanishing mid-run (after epoch 1's metrics): skipped and named, as a
    # corrupt file is; the run ends normally.
    data = os.path.join(tmp, "data")
    files = write_folder(data, 150, np.random.default_rng(1))
    d = os.path.join(tmp, "vanish")
    # --lr 0.001: these two classes separate at once, and at the default 0.01 the batches that
    # the deletions shrink sometimes sent the run into non-finite losses (seen once in CI)
    # before the end this case is about.
    proc = start("--data", data, "--config", "small-32", "--val-split", "0.2", "--batch-size",
                 "8", "--epochs", "3", "--threads", "1", "--workers", "2", "--run-dir", d,
                 "--init", "kaiming", "--checkpoint-minutes", "0", "--lr", "0.001")
    wait_for(os.path.join(d, "metrics.csv"), proc)
    removed = set(files[::2])
    for f in removed:
        os.remove(f)
    out, err = proc.communicate(timeout=600)
    check("files vanishing mid-run: the run ends with exit 0", proc.returncode == 0,
          out[-2000:] + err)
    listed = {}
    if os.path.exists(os.path.join(d, "skipped.txt")):
        for line in open(os.path.join(d, "skipped.txt")):
            name, _, why = line.rstrip("\n").partition("\t")
            listed[name] = why
    check("skipped.txt names vanished files, and only those, as 'cannot open'",
          listed and set(listed) <= removed and
          all("cannot open" in w for w in listed.values()), str(listed)[:1000])


def write_idx_images(path, n, rows=28, cols=28, magic=0x00000803, gz=False):
    data = struct.pack(">IIII", magic, n, rows, cols) + bytes(n * rows * cols)
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def case_errors(tmp):
    """Bad arguments: exit 2 and one line naming the option; bad headers: exit 1 naming the file."""
    d = os.path.join(tmp, "d")
    os.makedirs(d)
    cases = [
        (["--data", d, "--lr", "abc"], "--lr"),
        (["--data", d, "--batch-size", "0"], "--batch-size"),
        (["--data", d, "--lr-schedule", "cosine"], "--lr-schedule"),
        (["--data", d, "--augment", "crop,rotate"], "--augment"),
        (["--data", d, "--init", "xavier"], "--init"),
        (["--data", d, "--device", "tpu"], "--device"),
        (["--data", d, "--device", "gpu:x"], "--device"),
        (["--data", d, "--bogus"], "--bogus"),
        (["--data"], "--data"),
        (["--epochs", "3"], "--data"),
        (["--data", d, "stray"], "stray"),
        (["--data", d, "--val-split", "1.5"], "--val-split"),
        (["--data", d, "--config", "vgg"], "--config"),
    ]
    for args, needle in cases:
        rc, out, err = run(*args)
        lines = err.strip().splitlines()
        check(f"{' '.join(args[2:] or args)}: exit 2, one line naming {needle}",
              rc == 2 and len(lines) == 1 and needle in lines[0], f"rc={rc} err={err!r}")
    rc, out, err = run("--help")
    check("--help exits 0 and documents every option with defaults",
          rc == 0 and all(o in out for o in ["--data", "--val-split", "--lr-schedule",
                                              "--momentum", "--weight-decay", "--ten-crop",
                                              "--resume", "--checkpoint-minutes",
                                              "--max-bad-steps", "[default: 0.01]"]), out)

    # idx: wrong magic; a count the file cannot hold; gzipped too.
    idx = os.path.join(tmp, "idx")
    os.makedirs(idx)
    write_idx_images(os.path.join(idx, "train-images-idx3-ubyte"), 10, magic=0x00000801)
    with open(os.path.join(idx, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x00000801, 10) + bytes(10))
    rc, out, err = run("--data", idx, "--run-dir", os.path.join(tmp, "r1"))
    check("bad idx magic: exit 1 naming the file",
          rc == 1 and "train-images-idx3-ubyte" in err and err.startswith("alexnet-train: "),
          f"{rc} {err}")
    idx2 = os.path.join(tmp, "idx2")
    os.makedirs(idx2)
    with gzip.open(os.path.join(idx2, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, 1000000, 28, 28) + bytes(100))
    with gzip.open(os.path.join(idx2, "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x00000801, 1000000) + bytes(100))
    rc, out, err = run("--data", idx2, "--run-dir", os.path.join(tmp, "r2"))
    check("idx header larger than the file: exit 1 naming the file",
          rc == 1 and "-ubyte.gz" in err and "header" in err, f"{rc} {err}")
    cifar = os.path.join(tmp, "cifar")
    os.makedirs(cifar)
    with open(os.path.join(cifar, "data_batch_1.bin"), "wb") as f:
        f.write(bytes(3073 * 2 + 100))
    rc, out, err = run("--data", cifar, "--format", "cifar10", "--run-dir", os.path.join(tmp, "r3"))
    check("CIFAR batch of a wrong size: exit 1 naming the file",
          rc == 1 and "data_batch_1.bin" in err, f"{rc} {err}")
    with open(os.path.join(cifar, "data_batch_1.bin"), "wb") as f:
        f.write(bytes([12]) + bytes(3072))
    rc, out, err = run("--data", cifar, "--format", "cifar10", "--run-dir", os.path.join(tmp, "r4"))
    check("CIFAR label out of range: exit 1 naming the file",
          rc == 1 and "data_batch_1.bin" in err, f"{rc} {err}")
    tiny = os.path.join(tmp, "tiny")
    for c in ("a", "b"):
        os.makedirs(os.path.join(tiny, c))
        for i in range(2):
            cv2.imwrite(os.path.join(tiny, c, f"{i}.png"), np.full((40, 40, 3), 60 * i, np.uint8))
    rc, out, err = run("--data", tiny, "--val", tiny, "--batch-size", "16",
                       "--run-dir", os.path.join(tmp, "r5"))
    check("a training set smaller than one batch: exit 1 saying so",
          rc == 1 and "fewer than one batch" in err and "--batch-size" in err, f"{rc} {err}")
    rc, out, err = run("--resume", os.path.join(tmp, "nothing-here"))
    check("--resume of a missing run: exit 1 naming it", rc == 1 and "nothing-here" in err, err)


def test_split_pngs(tmp):
    """The whole Fashion-MNIST test split (10,000 images) as PNG files, and their labels."""
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    d = os.path.join(tmp, "test-split")
    os.makedirs(d)
    files = []
    for i, img in enumerate(images):
        files.append(os.path.join(d, f"{i:05d}.png"))
        cv2.imwrite(files[-1], img)
    return files, [int(v) for v in labels]


def top1(model, files, precision):
    """alexnet-classify's top-1 of every file at `precision`: (list, None) or (None, stderr)."""
    p = subprocess.run([CLASSIFY, "--model", model, "--json", "-k", "1", "--device", "cpu",
                        "--threads", "2", "--batch-size", "64", "--precision", precision,
                        "--", *files], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        return None, p.stderr
    by_file = {}
    for line in p.stdout.splitlines():
        j = json.loads(line)
        by_file[j["input"]] = j["top"][0]["index"]
    return [by_file.get(f) for f in files], None


def precisions_agree(tmp, model):
    """Issue 15's bar on the full test split: each reduced precision's top-1 agrees with fp32's on
    >= 99% of the images and its accuracy is at most 0.5 points lower. A precision this CPU cannot
    run natively must be refused with a message naming what is missing. int8 runs the model
    calibrated by alexnet-calibrate on 512 training images (the test split chose nothing)."""
    files, labels = test_split_pngs(tmp)
    calibrated = os.path.join(tmp, "int8.safetensors")
    p = subprocess.run([CALIBRATE, "--model", model, "--data", FASHION, "--images", "512",
                        "--threads", "2", "--out", calibrated], capture_output=True, text=True,
                       timeout=300)
    check("alexnet-calibrate writes the calibrated model", p.returncode == 0, p.stderr)
    p = subprocess.run([CLASSIFY, "--model", model, "--precision", "int8", "--device", "cpu",
                        files[0]], capture_output=True, text=True, timeout=60)
    check("int8 on an uncalibrated model is refused, naming alexnet-calibrate",
          p.returncode == 1 and "alexnet-calibrate" in p.stderr, p.stderr)
    ref, err = top1(model, files, "fp32")
    check("fp32 classifies the 10,000 test images", ref is not None, err)
    if ref is None:
        return
    acc32 = sum(a == b for a, b in zip(ref, labels)) / len(labels)
    print(f"     fp32: test accuracy {acc32:.4f} on {len(labels)} images")
    for precision in ["bf16", "int8"]:
        got, err = top1(calibrated if precision == "int8" else model, files, precision)
        if got is None:
            check(f"{precision} refused with the missing instruction set named",
                  "device cpu" in err and "avx512_bf16" in err, err)
            print(f"     {precision}: not run natively on this CPU: {err.strip()}")
            continue
        agree = sum(a == b for a, b in zip(got, ref)) / len(ref)
        acc = sum(a == b for a, b in zip(got, labels)) / len(labels)
        print(f"     {precision}: test accuracy {acc:.4f}, top-1 agrees with fp32 on {agree:.4f}")
        check(f"{precision} top-1 agrees with fp32 on >= 99% of the test split", agree >= 0.99,
              f"{agree:.4f}")
        check(f"{precision} accuracy at most 0.5 points below fp32's", acc >= acc32 - 0.005,
              f"{acc:.4f} vs {acc32:.4f}")


def case_classify(tmp):
    """The trained weights load in alexnet-classify, whose top-1 equals the trainer's own."""
    need_fashion()
    # 300 test images as PNG files in class folders 0..9 (the idx label order).
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    val = os.path.join(tmp, "val")
    for c in range(10):
        os.makedirs(os.path.join(val, str(c)))
    for i in range(300):
        cv2.imwrite(os.path.join(val, str(labels[i]), f"{i:04d}.png"), images[i])
    run_dir = os.path.join(tmp, "run")
    preds = os.path.join(tmp, "pred.tsv")
    rc, out, err = run(*fashion_args(run_dir, "--val", val, "--limit-train", "2000",
                                     "--batch-size", "32", "--epochs", "1",
                                     "--predictions-out", preds, "--calibrate", "64"))
    check("trains with a PNG validation folder, exit 0", rc == 0, out[-2000:] + err)
    if rc != 0:
        return
    mine, right = {}, 0
    for line in open(preds):
        name, pred, label = line.rstrip("\n").split("\t")
        mine[name] = int(pred)
        right += pred == label
    check("predictions for all 300 images", len(mine) == 300, str(len(mine)))
    check("they are not trivial (>= 5 classes predicted, > 40% right)",
          len(set(mine.values())) >= 5 and right > 120, f"{set(mine.values())} {right}")
    files = sorted(mine)
    # --calibrate: the weights carry the ranges int8 needs (format 1.1), and int8 runs on them
    _, meta = read_safetensors(os.path.join(run_dir, "alexnet.safetensors"))
    cal = json.loads(meta.get("alexnet.calibration", "[]"))
    check("--calibrate stores one range per weighted layer, format 1.1",
          meta.get("alexnet.format_version") == "1.1" and
          [c["layer"] for c in cal] == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7",
                                         "fc8"], str(meta.get("alexnet.format_version")) + str(cal))
    got, err = top1(os.path.join(run_dir, "alexnet.safetensors"), files, "int8")
    check("alexnet-classify runs int8 on the trainer's calibrated weights", got is not None, err)
    if got is not None:
        same = sum(got[i] == mine[f] for i, f in enumerate(files))
        check("int8 top-1 agrees with the trainer's fp32 on >= 97% of 300 images",
              same >= 291, f"{same}/300")
    p = subprocess.run([CLASSIFY, "--model", os.path.join(run_dir, "alexnet.safetensors"),
                        "--json", "-k", "1", "--threads", "2", *files],
                       capture_output=True, text=True, timeout=300)
    check("alexnet-classify loads the trained weights", p.returncode == 0, p.stderr)
    theirs = {}
    for line in p.stdout.splitlines():
        j = json.loads(line)
        theirs[j["input"]] = j["top"][0]["index"]
    diff = [f for f in files if theirs.get(f) != mine[f]]
    check("alexnet-classify's top-1 equals the trainer's for every image", not diff,
          f"{len(diff)} differ, e.g. {diff[:3]}")


CASES = {"learn": case_learn, "faults": case_faults, "resume": case_resume, "data-parallel": case_data_parallel,
         "model-parallel": case_model_parallel,
         "checkpoint-kill": case_checkpoint_kill,
         "nan": case_nan, "folder": case_folder, "errors": case_errors, "classify": case_classify}

with tempfile.TemporaryDirectory() as tmp:
    CASES[CASE](tmp)
if failures:
    print(f"{len(failures)} check(s) failed: {failures}")
    sys.exit(1)
print("all checks passed")
