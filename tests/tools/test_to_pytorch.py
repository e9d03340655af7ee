"""tools/to_pytorch.py end to end.

For each config (torchvision, paper, small-28, small-32, small-64) a seeded weights file is
written by the library (make_model); the torch module to_pytorch builds from it must give
the logits alexnet-classify gives on the same preprocessed input. Also: the torchvision
config's state_dict loads into torchvision.models.alexnet; the command line writes a
state_dict and a TorchScript module; --from-torchvision writes a file alexnet-classify
loads with the same logits; bad inputs exit 1/2.

Usage: test_to_pytorch.py TO_PYTORCH ALEXNET_CLASSIFY MAKE_MODEL
"""
import importlib.util
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # meson: 77 = skipped
    print(f"SKIP: needs python3-numpy and python3-torch ({e})")
    sys.exit(77)

TOOL, CLASSIFY, MAKE_MODEL = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("to_pytorch", TOOL)
tp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tp)
torch.set_num_threads(2)
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f"\n     {detail}"))
    if not cond:
        failures.append(name)


def our_logits(model_path, x, tmp):
    inp, out = os.path.join(tmp, "x.npy"), os.path.join(tmp, "logits.npy")
    np.save(inp, x)
    subprocess.run([CLASSIFY, "--model", model_path, "--device", "cpu", "--logits", out, inp],
                   check=True, capture_output=True, timeout=300)
    return np.load(out)


def close(a, b):
    # float32 on both sides, different summation orders: relative to the logits' scale.
    err = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b))) + 1e-6
    return err <= 1e-4 * scale + 1e-5, f"max |diff| {err:.3g}, scale {scale:.3g}"


with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(7)
    for cfg in ["torchvision", "paper", "small-28", "small-32", "small-64"]:
        path = os.path.join(tmp, cfg + ".safetensors")
        subprocess.run([MAKE_MODEL, path, cfg, "10", "3"], check=True)
        model, info = tp.load(path)
        c = info["config"]
        x = rng.standard_normal((3, c["in_channels"], c["input_size"], c["input_size"]))
        x = x.astype(np.float32)
        ours = our_logits(path, x, tmp)
        with torch.no_grad():
            theirs = model(torch.from_numpy(x)).numpy()
        ok, detail = close(theirs, ours)
        check(f"{cfg}: torch module logits equal alexnet-classify's", ok, detail)
        check(f"{cfg}: labels and preprocess come along",
              len(info["labels"]) == 10 and "mean" in info["preprocess"])

        if cfg == "torchvision":
            import torchvision
            tv = torchvision.models.alexnet(weights=None, num_classes=10).eval()
            tv.load_state_dict(model.state_dict())
            with torch.no_grad():
                ok, detail = close(tv(torch.from_numpy(x)).numpy(), ours)
            check("torchvision: state_dict loads into torchvision.models.alexnet", ok, detail)

            # The reverse: a torchvision state_dict saved by torch → safetensors → our loader.
            pth = os.path.join(tmp, "tv.pth")
            torch.save(tv.state_dict(), pth)
            st = os.path.join(tmp, "tv.safetensors")
            r = subprocess.run([sys.executable, TOOL, "--from-torchvision", pth, st],
                               capture_output=True, text=True)
            check("--from-torchvision exits 0", r.returncode == 0, r.stderr)
            ok, detail = close(our_logits(st, x, tmp), ours)
            check("--from-torchvision: alexnet-classify gives the same logits", ok, detail)
            m2, _ = tp.load(st)
            with torch.no_grad():
                ok, detail = close(m2(torch.from_numpy(x)).numpy(), ours)
            check("a torchvision state_dict in safetensors loads with to_pytorch.load", ok, detail)

        if cfg == "small-28":
            pt = os.path.join(tmp, "s.pt")
            r = subprocess.run([sys.executable, TOOL, path, pt], capture_output=True, text=True)
            check("CLI state_dict: exit 0", r.returncode == 0, r.stderr)
            m3 = tp.AlexNet(c)
            m3.load_state_dict(torch.load(pt))
            with torch.no_grad():
                ok, detail = close(m3.eval()(torch.from_numpy(x)).numpy(), ours)
            check("CLI state_dict loads into AlexNet(config)", ok, detail)
            ts = os.path.join(tmp, "s.ts")
            r = subprocess.run([sys.executable, TOOL, "--torchscript", path, ts],
                               capture_output=True, text=True)
            check("CLI --torchscript: exit 0", r.returncode == 0, r.stderr)
            with torch.no_grad():
                ok, detail = close(torch.jit.load(ts)(torch.from_numpy(x)).numpy(), ours)
            check("TorchScript module gives the same logits", ok, detail)

    bad = os.path.join(tmp, "bad.safetensors")
    with open(bad, "wb") as f:
        f.write(b"\x01\x02")
    r = subprocess.run([sys.executable, TOOL, bad, os.path.join(tmp, "o.pt")],
                       capture_output=True, text=True)
    check("a bad file: exit 1 with one line naming it",
          r.returncode == 1 and bad in r.stderr and r.stderr.count("\n") == 1, r.stderr)
    r = subprocess.run([sys.executable, TOOL, bad], capture_output=True, text=True)
    check("missing argument: exit 2 with the usage", r.returncode == 2 and "usage" in r.stderr,
          r.stderr)

if failures:
    print(f"{len(failures)} failed: {', '.join(failures)}")
    sys.exit(1)
print("all passed")
