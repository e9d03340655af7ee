"""alexnet-train --distributed mpi on CPU ranks, with a real Open MPI (mpirun from Debian's
openmpi-bin), two ranks oversubscribed on one machine.

Usage: test_distributed.py CASE ALEXNET_TRAIN
CASE: equal | resume | faults
  equal   2 ranks train like one process with the same global batch (dropout on), and only
          rank 0 prints and writes; skipped images of every rank reach rank 0's skipped.txt
  resume  mpirun and both ranks killed with SIGKILL, then --resume: bit-identical to an
          uninterrupted 2-rank run; another world size is refused, naming both
  faults  kill -9 of one rank ends the job; SIGSTOP of one rank: the watchdog ends the job
          within ALEXNET_DIST_TIMEOUT_S, naming the rank; diverged weights and differing data
          are errors naming the rank; SIGTERM to the ranks: one checkpoint, exit 143
Exit 0 = pass, 1 = fail, 77 = skipped (meson's convention).
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError as e:
    print(f"SKIP: needs python3-numpy ({e})")
    sys.exit(77)

CASE, TRAIN = sys.argv[1], sys.argv[2]
FASHION = "/usr/share/datasets/fashion-mnist"
MPIRUN = shutil.which("mpirun")
failures = []

# Root in CI containers; two ranks on a 2-core machine; no single-copy (CMA) transfers, which
# containers often forbid (ptrace); one OpenMP thread per rank.
MPI_FLAGS = ["--oversubscribe", "--allow-run-as-root", "--bind-to", "none", "-np", "2"]
ENV = dict(os.environ, OMPI_MCA_btl_vader_single_copy_mechanism="none", OMP_NUM_THREADS="1")


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f"\n     {detail}"))
    if not cond:
        failures.append(name)


def need():
    if not os.path.exists(os.path.join(FASHION, "train-images-idx3-ubyte.gz")):
        print(f"SKIP: {FASHION} is absent (Debian package dataset-fashion-mnist)")
        sys.exit(77)
    if not MPIRUN:
        print("SKIP: mpirun is absent (Debian package openmpi-bin)")
        sys.exit(77)
    p = subprocess.run([TRAIN, "--distributed", "mpi", "--data", "/nonexistent"],
                       capture_output=True, text=True, env=ENV, timeout=60)
    if "not built in" in p.stderr:
        print("SKIP: this alexnet-train has no MPI support (libopenmpi-dev at build time)")
        sys.exit(77)


def args(run_dir, *extra):
    # small-28 on 640 Fashion-MNIST images, batches of 32 (16 per rank), validation held out
    # of the training images, one network thread, dropout on (the default 0.5).
    return ["--data", FASHION, "--val-split", "0.1", "--limit-train", "640", "--limit-val",
            "200", "--config", "small-28", "--threads", "1", "--workers", "1", "--seed", "7",
            "--init", "kaiming", "--batch-size", "32", "--epochs", "10", "--lr-patience", "1",
            "--checkpoint-minutes", "0", "--run-dir", run_dir, *extra]


def mpi(*train_args, timeout=300, env=None):
    p = subprocess.run([MPIRUN, *MPI_FLAGS, TRAIN, "--distributed", "mpi", *map(str, train_args)],
                       capture_output=True, text=True, timeout=timeout, env=env or ENV)
    return p.returncode, p.stdout.replace("\r", "\n"), p.stderr


def one(*train_args, timeout=300):
    p = subprocess.run([TRAIN, *map(str, train_args)], capture_output=True, text=True,
                       timeout=timeout, env=ENV)
    return p.returncode, p.stdout, p.stderr


def start_mpi(*train_args, env=None):
    return subprocess.Popen([MPIRUN, *MPI_FLAGS, TRAIN, "--distributed", "mpi",
                             *map(str, train_args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or ENV,
                            start_new_session=True)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    return {k: (v["dtype"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items()}, meta


def worst_weight_diff(a, b):
    ta, _ = read_safetensors(a)
    tb, _ = read_safetensors(b)
    f = lambda t: np.frombuffer(t[1], dtype="<f4")
    return max(float(np.abs(f(tb[n]) - f(ta[n])).max() / np.abs(f(ta[n])).max())
               for n in ta if ta[n][0] == "F32" and n.split(".")[0] in
               ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"))


def checkpoint_state(run_dir):
    _, meta = read_safetensors(os.path.join(run_dir, "checkpoint.safetensors"))
    return json.loads(meta["alexnet.checkpoint"])


def rank_pids(log_text):
    """{rank: pid} from rank 0's "distributed: ..." line."""
    return {int(r): int(p) for r, p in re.findall(r"rank (\d+) \(host [^,]*, pid (\d+)\)",
                                                    log_text)}


def wait_for_line(run_dir, pattern, proc, timeout=120):
    """Waits until train.log matches `pattern`; returns the log text (or None)."""
    end = time.time() + timeout
    path = os.path.join(run_dir, "train.log")
    while time.time() < end and proc.poll() is None:
        if os.path.exists(path):
            text = open(path).read()
            if re.search(pattern, text):
                return text
        time.sleep(0.02)
    return None


def case_equal(tmp):
    """Ten steps of two ranks (16 rows each) and of one process (32 rows) from the same seed:
    every weight within 1e-4 of its tensor's largest value, dropout on (each rank draws its
    rows' masks of the whole batch). Measured on the 2-core VM: 1.2e-5."""
    a, b = os.path.join(tmp, "one"), os.path.join(tmp, "two")
    common = ["--max-steps", "10", "--checkpoint-steps", "10"]
    rc, out, err = one(*args(a, *common))
    check("one process exits 0", rc == 0, out[-2000:] + err)
    rc, out, err = mpi(*args(b, *common))
    check("2 ranks exit 0", rc == 0, out[-2000:] + err)
    if rc != 0:
        return
    check("the log says 2 MPI ranks", "distributed: 2 MPI ranks" in out, out[-2000:])
    check("only rank 0 prints (one 'done:' line)", out.count("done: ") == 1, out[-3000:])
    worst = worst_weight_diff(os.path.join(a, "checkpoint.safetensors"),
                              os.path.join(b, "checkpoint.safetensors"))
    check(f"2 ranks' weights equal one process's within 1e-4 after 10 steps (worst {worst:.2e})",
          worst <= 1e-4)
    ma = open(os.path.join(a, "metrics.csv")).read().splitlines()
    mb = open(os.path.join(b, "metrics.csv")).read().splitlines()
    ia, ib = ma[0].split(","), mb[0].split(",")
    ra, rb = dict(zip(ia, ma[1].split(","))), dict(zip(ib, mb[1].split(",")))
    check("validation top-1 error equals one process's (the ranks' shards reduced)",
          abs(float(ra["val_top1_error"]) - float(rb["val_top1_error"])) <= 0.01, f"{ra}\n{rb}")
    check("training loss within 1e-3 of one process's",
          abs(float(ra["train_loss"]) - float(rb["train_loss"])) <= 1e-3, f"{ra}\n{rb}")


def case_skips(tmp):
    """Corrupt images in an image folder, read by two ranks: skipped.txt (rank 0's) names every
    one, whichever rank's shard held it."""
    import cv2
    root = os.path.join(tmp, "folder")
    rng = np.random.default_rng(3)
    bad = []
    for c in ("a", "b"):
        os.makedirs(os.path.join(root, c))
        for i in range(40):
            path = os.path.join(root, c, f"{i:02d}.png")
            cv2.imwrite(path, rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))
            if i % 7 == 3:  # 6 per class: truncated to 20 bytes
                with open(path, "r+b") as f:
                    f.truncate(20)
                bad.append(f"{c}/{i:02d}.png")
    d = os.path.join(tmp, "run")
    rc, out, err = mpi("--data", root, "--config", "small-32", "--val-split", "0.25",
                       "--batch-size", "8", "--epochs", "1", "--threads", "1", "--workers", "1",
                       "--checkpoint-minutes", "0", "--run-dir", d)
    check("2 ranks on a folder with corrupt images exit 0", rc == 0, out[-2000:] + err)
    listed = open(os.path.join(d, "skipped.txt")).read() if os.path.exists(os.path.join(d, "skipped.txt")) else ""
    missing = [b for b in bad if b not in listed]
    check(f"skipped.txt names all {len(bad)} corrupt images, from both ranks' shards",
          not missing, f"missing {missing}\n{listed}")


def case_resume(tmp):
    """A 2-rank run killed with SIGKILL (mpirun and both ranks: a lost machine) after its step-20
    checkpoint, resumed with mpirun -np 2: bit-identical to an uninterrupted 2-rank run."""
    a, b = os.path.join(tmp, "whole"), os.path.join(tmp, "killed")
    common = ["--max-steps", "40", "--checkpoint-steps", "10"]
    rc, out, err = mpi(*args(a, *common))
    check("uninterrupted 2-rank run exits 0", rc == 0, out[-2000:] + err)
    p = start_mpi(*args(b, *common))
    text = wait_for_line(b, r"checkpoint \(periodic\): step (2|3)0 ", p)
    pids = rank_pids(text or "")
    check("the run reaches a checkpoint at step 20 or 30", text is not None and len(pids) == 2,
          str(text)[-1000:])
    os.killpg(p.pid, signal.SIGKILL)  # mpirun's group
    for pid in pids.values():  # and the ranks, wherever Open MPI put them
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait()
    time.sleep(0.5)
    state = checkpoint_state(b)
    check("the last checkpoint is whole (step 20 or 30)", state["step"] in (20, 30), str(state)[:200])
    rc, out, err = mpi("--resume", b)
    check("--resume with 2 ranks exits 0", rc == 0, out[-2000:] + err)
    for f in ["checkpoint.safetensors", "alexnet.safetensors"]:
        ta, _ = read_safetensors(os.path.join(a, f))
        tb, _ = read_safetensors(os.path.join(b, f))
        same = set(ta) == set(tb) and all(ta[n][1] == tb[n][1] for n in ta)
        check(f"resumed {f} bit-identical to the uninterrupted run's", same)
    rc, out, err = one("--resume", b)
    check("resuming a 2-rank checkpoint in one process is refused, naming both sizes",
          rc == 1 and "2 ranks" in err and "has 1" in err, err)


def case_faults(tmp):
    """What ends a job, and how fast."""
    # kill -9 of one rank: mpirun ends the job.
    d = os.path.join(tmp, "kill")
    p = start_mpi(*args(d, "--limit-train", "6400"))
    text = wait_for_line(d, r"distributed: 2 MPI ranks", p)
    pids = rank_pids(text or "")
    check("a long run starts", len(pids) == 2, str(text)[-500:])
    if len(pids) == 2:
        time.sleep(1)
        t0 = time.time()
        os.kill(pids[1], signal.SIGKILL)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
        took = time.time() - t0
        check(f"kill -9 of rank 1: the job ends with an error ({took:.1f} s)",
              p.returncode not in (0, None) and took < 60, str(p.returncode))

    # SIGSTOP of one rank: the watchdog (3 s here) ends the job, naming it.
    d = os.path.join(tmp, "stop")
    env = dict(ENV, ALEXNET_DIST_TIMEOUT_S="3")
    p = start_mpi(*args(d, "--limit-train", "6400"), env=env)
    text = wait_for_line(d, r"distributed: 2 MPI ranks", p)
    pids = rank_pids(text or "")
    if len(pids) == 2:
        time.sleep(1)
        t0 = time.time()
        os.kill(pids[1], signal.SIGSTOP)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            _, err = p.communicate()
        took = time.time() - t0
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        named = re.search(r"rank 0 \([^)]*\): rank 1 \(host [^,]*, pid %d\)[^\n]*ALEXNET_DIST_TIMEOUT_S"
                          % pids[1], err)
        check(f"SIGSTOP of rank 1: the watchdog ends the job in {took:.1f} s (timeout 3 s, "
              "limit 10 s), naming rank 1", p.returncode != 0 and took < 10 and named is not None,
              err[-2000:])
    else:
        check("the SIGSTOP run starts", False, str(text)[-500:])

    # Diverged weights: rank 1 nudges a weight after step 7; the checksum at step 10 names it.
    rc, out, err = mpi(*args(os.path.join(tmp, "perturb"), "--max-steps", "20",
                             "--dist-check-steps", "5", "--debug-perturb", "1:7"))
    check("diverged weights stop the job at the next checksum, naming rank 1",
          rc != 0 and re.search(r"at step 10 the weights or momenta of rank 1 \(host", err)
          is not None, err[-2000:])

    # Ranks with different data (mpirun's MPMD syntax: one option differs): refused.
    d = os.path.join(tmp, "differ")
    cmd = [MPIRUN, "--oversubscribe", "--allow-run-as-root", "--bind-to", "none",
           "-np", "1", TRAIN, "--distributed", "mpi", *args(d, "--max-steps", "2"), ":",
           "-np", "1", TRAIN, "--distributed", "mpi", *args(d, "--max-steps", "2",
                                                             "--limit-train", "320")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=ENV)
    check("ranks whose data differ are refused, naming the rank",
          r.returncode != 0 and re.search(r"rank 1 \(host [^)]*\): its data, statistics or "
                                          r"options differ from rank 0's", r.stderr) is not None,
          r.stderr[-2000:])

    # SIGTERM to both ranks (as a scheduler sends it): they agree on a step, rank 0 writes one
    # checkpoint, the job exits 143, and --resume continues.
    d = os.path.join(tmp, "term")
    p = start_mpi(*args(d, "--limit-train", "6400", "--max-steps", "400"))
    text = wait_for_line(d, r"distributed: 2 MPI ranks", p)
    pids = rank_pids(text or "")
    if len(pids) == 2:
        time.sleep(1.5)
        for pid in pids.values():
            os.kill(pid, signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
        log = open(os.path.join(d, "train.log")).read()
        check("SIGTERM to the ranks: exit 143 and a checkpoint by rank 0",
              p.returncode == 143 and "checkpoint (SIGTERM)" in log,
              f"{p.returncode}\n{log[-1000:]}\n{err[-1000:]}")
        stopped = checkpoint_state(d)["step"]
        rc, out, err = mpi("--resume", d, "--max-steps", stopped + 10)
        state = checkpoint_state(d)
        check(f"and --resume continues from it (step {stopped} to {stopped + 10})",
              rc == 0 and state["step"] == stopped + 10, out[-1000:] + err)
    else:
        check("the SIGTERM run starts", False, str(text)[-500:])


def main():
    need()
    tmp = tempfile.mkdtemp(prefix=f"alexnet-mpi-{CASE}-")
    try:
        {"equal": lambda t: (case_equal(t), case_skips(t)), "resume": case_resume,
         "faults": case_faults}[CASE](tmp)
    finally:
        if not failures:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failed: {', '.join(failures)} (files kept in {tmp})")
        sys.exit(1)
    print("all passed")


if __name__ == "__main__":
    main()
