"""Stress loop for alexnet-train's stop signals: a short Fashion-MNIST run, a random SIGINT or
SIGTERM at a random time after its first checkpoint, repeated; core dumps enabled in each run
folder; stops at the first bad exit (not a meson test: it takes ~1.5 s a run).

Usage: stress_stop_signals.py /abs/path/alexnet-train RUNS SEED

It found oneDNN's signal-frame-on-the-heap bug (docs/RELIABILITY.md, "Signals while oneDNN
computes"): about 1 crash in 100-700 release runs on the 2-core VM before the cpu backend's
signal guard, none after it. The unit test cpu-signals reproduces that bug at once.
"""
import os, random, shutil, signal, subprocess, sys, tempfile, time
TRAIN = sys.argv[1]; N = int(sys.argv[2]); seed = int(sys.argv[3])
random.seed(seed)
F = "/usr/share/datasets/fashion-mnist"
bad = 0
for i in range(N):
    if bad: break
    d = tempfile.mkdtemp(prefix="sigint-")
    args = [TRAIN, "--data", F, "--val", F, "--config", "small-28", "--threads", "1", "--workers", "2",
            "--seed", "7", "--run-dir", d, "--init", "kaiming", "--checkpoint-minutes", "0",
            "--limit-train", "640", "--limit-val", "200", "--batch-size", "32", "--epochs", "10",
            "--max-steps", "50", "--checkpoint-steps", "10", "--lr-patience", "1"]
    import resource
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=d, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))
    ck = os.path.join(d, "checkpoint.safetensors")
    while not os.path.exists(ck) and p.poll() is None:
        time.sleep(0.005)
    time.sleep(random.uniform(0, 1.5))
    sig = random.choice([signal.SIGINT, signal.SIGTERM])
    p.send_signal(sig)
    out, err = p.communicate()
    if p.returncode not in (128 + sig, 0):
        bad += 1
        print(f"dir {d}"); print(f"run {i}: {sig.name} rc={p.returncode} err={err.strip()[-300:]}", flush=True)
    else:
        shutil.rmtree(d)  # the bad run's folder (with its core) is kept
print(f"{N} runs, {bad} bad", flush=True)
