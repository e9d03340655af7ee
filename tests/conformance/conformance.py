#!/usr/bin/env python3
"""Conformance: our logits against an independent PyTorch implementation on identical weights.

  conformance.py CLASSIFY_EXE CASE [--devices cpu cpu,cpu] [--keep DIR]

CASE:
  torchvision   torchvision.models.alexnet(num_classes=1000), its state_dict saved as
                safetensors with torchvision's names and no metadata; input (2, 3, 224, 224).
  paper         the paper's config (227 input, groups 2 in conv2/4/5, LRN k=2 n=5
                alpha=1e-4 beta=0.75, alpha_convention "paper") against an nn.Sequential with
                nn.LocalResponseNorm(alpha = 1e-4 * 5), our names and metadata; 10 classes.
  divided_by_n  the same with alpha_convention "divided_by_n" (torch alpha = 1e-4).

Weights are seeded and variance-preserving (N(0, 2/fan_in), small random biases) so the
logits depend on the input. The reference is computed in float64. Passes when, for every
device list, max|ours - ref| <= 1e-4 * max|ref|. Exit 77 (meson's skip) without torch.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SKIP = 77
RTOL = 1e-4


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("classify", help="path to alexnet-classify")
    ap.add_argument("case", choices=["torchvision", "paper", "divided_by_n"])
    ap.add_argument("--devices", nargs="+", default=["cpu", "cpu,cpu"])
    ap.add_argument("--keep", help="write the files here and keep them")
    args = ap.parse_args()

    try:
        import numpy as np
        import torch  # noqa: F401
        if args.case == "torchvision":
            import torchvision  # noqa: F401
    except ImportError as e:
        print("SKIP: PyTorch/torchvision/numpy not importable by %s (%s); install Debian's "
              "python3-torch python3-torchvision python3-numpy" % (sys.executable, e))
        return SKIP
    import st
    import torch_models as tm

    torch.set_num_threads(1)  # the reference is float64; keep it off the shared cores

    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        work = args.keep
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="alexnet-conformance-")
        work = tmp.name

    if args.case == "torchvision":
        classes, size, n = 1000, 224, 2
        model = tm.torchvision_alexnet(classes, seed=1234)
        tensors, meta = tm.torchvision_state(model), None
        x = tm.seeded_input(n, size, seed=99)
        other = None
    else:
        classes, size, n = 10, 227, 3  # 3 rows: uneven split over two workers
        conv = "paper" if args.case == "paper" else "divided_by_n"
        model = tm.paper_alexnet(classes, seed=4321, alpha_convention=conv)
        tensors = tm.our_names(model)
        meta = tm.metadata(tm.paper_config(classes, conv), classes,
                           {"source": "tests/conformance", "case": args.case})
        # Mean-subtracted-pixel-like scale (as the paper fed its net): the LRN sum is then
        # large against k, so the two alpha conventions give clearly different logits.
        x = tm.seeded_input(n, size, seed=77, scale=60.0)
        other_conv = "divided_by_n" if conv == "paper" else "paper"
        other = tm.paper_alexnet(classes, seed=4321, alpha_convention=other_conv)

    model_path = os.path.join(work, "model.safetensors")
    input_path = os.path.join(work, "input.npy")
    st.write(model_path, tensors, meta)
    np.save(input_path, x)

    ref = tm.forward64(model, x)
    with torch.no_grad():
        ref32 = model(torch.from_numpy(x)).numpy()
    scale = float(np.abs(ref).max())
    tol = RTOL * scale
    print("case %s: %d classes, input %s, max|ref| = %.6g, tolerance = %.3g" %
          (args.case, classes, x.shape, scale, tol))
    print("  torch float32 vs float64: max|d| = %.3g" % float(np.abs(ref32 - ref).max()))
    if other is not None:
        d_other = float(np.abs(tm.forward64(other, x) - ref).max())
        print("  (the other alpha convention would differ by %.3g = %.1fx the tolerance)" %
              (d_other, d_other / tol))
        if d_other <= 20 * tol:
            print("FAIL: the test input does not separate the two LRN alpha conventions")
            return 1
    if scale == 0 or float(np.abs(ref - ref.mean(axis=0)).max()) <= 10 * tol:
        print("FAIL: the reference logits do not depend on the input; the test is not meaningful")
        return 1

    ok = True
    for dev in args.devices:
        logits_path = os.path.join(work, "logits-%s.npy" % dev.replace(",", "_").replace(":", "_"))
        cmd = [args.classify, "--model", model_path, "--device", dev, "--top-k", "1",
               "--logits", logits_path, input_path]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print("FAIL [%s]: %s exited %d\n%s%s" % (dev, " ".join(cmd), r.returncode, r.stdout, r.stderr))
            ok = False
            continue
        ours = np.load(logits_path)
        if ours.dtype != np.float32 or ours.shape != ref.shape:
            print("FAIL [%s]: logits %s %s, expected float32 %s" % (dev, ours.dtype, ours.shape, ref.shape))
            ok = False
            continue
        if not np.all(np.isfinite(ours)):
            print("FAIL [%s]: non-finite logits" % dev)
            ok = False
            continue
        d = float(np.abs(ours.astype(np.float64) - ref).max())
        same_top1 = bool(np.all(ours.argmax(axis=1) == ref.argmax(axis=1)))
        verdict = "ok" if d <= tol else "FAIL"
        print("  [%s] max|ours - ref| = %.3g (%.3g x max|ref|), top-1 equal: %s -> %s" %
              (dev, d, d / scale, same_top1, verdict))
        if d > tol:
            ok = False
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
