#!/usr/bin/env python3
"""Whole-network gradients of both CPU backends against torch float64 autograd.

    test_gradients_torch.py GRAD_DUMP TOOLS_DIR [--quick] [--small] [--match=TEXT]
                            [--case=CONFIG:MODEL:INPUT:DIST[:BATCH]]

For every case, grad-dump runs one training step (dropout on, seeded masks) on the reference
and on the cpu (oneDNN) backend and writes the weights, the input, the gradients and every
activation. This script rebuilds the same step in torch float64 and compares, per parameter
tensor, max|grad - torch| against the tensor's largest torch gradient:
    reference  <= 1e-6      cpu (oneDNN)  <= 1e-4

The arbiter follows the backend's branches. AlexNet is not differentiable everywhere: a ReLU
input at 0, two max-pool candidates that tie. Where a value lies within float rounding of such
a point, float32 and float64 may take different branches, and the gradients then differ by
O(dy) at that element, both right (issue 12: one conv4 pre-activation of +3e-7 in float64 and
<= 0 in oneDNN moved conv1-conv4's gradients by 1.7-3.4%). So torch takes its ReLU masks from
the backend's outputs (y > 0) and its max-pool choices from the backend's inputs, and computes
everything else in float64. That it is a tie and not a backend error is checked too: every
place where the backend's branch differs from float64's own must be within `KINK` of the tie
(a ReLU input within KINK * max|input|, a pool window whose two candidates differ by less than
KINK * max|input| in float64), and every activation must match float64's forward.

Per case it prints the worst relative differences, the branch flips, and what a plain
comparison with torch's own branches would have given (to show the flips' effect).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

GRAD_DUMP, TOOLS = sys.argv[1], sys.argv[2]
sys.path.insert(0, TOOLS)
from to_pytorch import read_safetensors  # noqa: E402

torch.set_num_threads(os.cpu_count() or 1)
F64 = torch.float64
GRAD_TOL = {"reference": 1e-6, "cpu": 1e-4}
# Forward: each activation against float64's, relative to its largest value.
ACT_TOL = {"reference": 1e-6, "cpu": 1e-4}
# A branch flip must sit within this (relative to the layer input's largest value) of its tie.
KINK = {"reference": 1e-6, "cpu": 1e-4}


def t64(a):
    return torch.from_numpy(np.ascontiguousarray(a)).to(F64)


def lrn(x, size, alpha, beta, k):
    """y_c = x_c / (k + alpha * sum_{j in [c - n/2, c + (n-1)/2]} x_j^2)^beta (as ours)."""
    sq = F.pad((x * x).unsqueeze(1), (0, 0, 0, 0, size // 2, (size - 1) // 2)).squeeze(1)
    s = F.avg_pool3d(sq.unsqueeze(1), (size, 1, 1), stride=1).squeeze(1) * size
    return x / (k + alpha * s) ** beta


def step(d, layers, names, follow):
    """One training step in float64. follow: the backend's dump (its branches) or None
    (float64's own). Returns (loss, grads by name, activations, branch records)."""
    w = {n: t64(d[n]).requires_grad_(True) for n in names}
    a = t64(d["input"])
    acts, branches = [a.detach()], []
    for i, l in enumerate(layers):
        kind = l["kind"]
        if kind in ("conv", "linear"):
            W, b = w[l["name"] + ".weight"], w[l["name"] + ".bias"]
            if kind == "conv":
                z = F.conv2d(a, W, b, stride=l["stride"], padding=l["pad"], groups=l["groups"])
            else:
                z = F.linear(a.flatten(1), W, b)
            if l["relu"]:
                own = z.detach() > 0
                mask = own if follow is None else torch.from_numpy(follow[f"act.{i + 1}"] > 0)
                branches.append(("relu", l["name"], z.detach(), own, mask))
                a = z * mask
            else:
                a = z
        elif kind == "lrn":
            a = lrn(a, l["lrn_size"], l["lrn_alpha"], l["lrn_beta"], l["lrn_k"])
        elif kind == "maxpool":
            k, s = l["kernel"], l["stride"]
            _, own = F.max_pool2d(a.detach(), k, s, return_indices=True)
            src = a.detach() if follow is None else t64(follow[f"act.{i}"])
            _, idx = F.max_pool2d(src, k, s, return_indices=True)
            branches.append(("pool", l["name"], a.detach(), own, idx))
            a = a.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)
        elif kind == "adaptive_avgpool":
            a = F.adaptive_avg_pool2d(a, l["out_size"])
        elif kind == "dropout":
            scale = float(np.float32(1.0 / (1.0 - l["drop_p"])))  # dropout_scale(), float
            a = a * t64(d[f"mask.{i}"]) * scale
        else:
            raise ValueError(f"layer {l['name']}: unknown kind {kind}")
        acts.append(a.detach())
    labels = torch.from_numpy(d["labels"].astype(np.int64))
    loss = F.cross_entropy(a, labels)
    loss.backward()
    return loss.item(), {n: w[n].grad for n in names}, acts, branches


def rel(a, b):
    """max|a - b| / max|b| (0 when both are 0)."""
    m = float(b.abs().max())
    return float((a - b).abs().max()) / m if m > 0 else float((a - b).abs().max())


def audit_flips(branches, backend):
    """Branch flips (backend vs float64's own): count, and the worst distance to the tie
    relative to the layer input's largest value. Every flip must be a near-tie."""
    count, worst = 0, 0.0
    for kind, name, x, own, chosen in branches:
        if kind == "relu":
            flip = own != chosen
            if flip.any():
                count += int(flip.sum())
                worst = max(worst, float(x[flip].abs().max()) / float(x.abs().max()))
        else:
            flip = own != chosen
            if flip.any():
                count += int(flip.sum())
                flat = x.flatten(2)
                gap = flat.gather(2, own.flatten(2)) - flat.gather(2, chosen.flatten(2))
                worst = max(worst, float(gap.abs().max()) / float(x.abs().max()))
    return count, worst


class Case:
    def __init__(self, config, model_seed, input_seed, dist, batch, extra=()):
        self.config, self.model_seed, self.input_seed = config, model_seed, input_seed
        self.dist, self.batch, self.extra = dist, batch, list(extra)

    def __str__(self):
        extra = " " + " ".join(self.extra) if self.extra else ""
        return (f"{self.config} b{self.batch} model {self.model_seed} input {self.input_seed} "
                f"{self.dist}{extra}")


def dump(case, backend, out):
    cmd = [GRAD_DUMP, "--config", case.config, "--backend", backend, "--model-seed",
           str(case.model_seed), "--input-seed", str(case.input_seed), "--input", case.dist,
           "--batch", str(case.batch), "--out", out] + case.extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return read_safetensors(out)


def check_case(case, tmp, failures):
    line = [str(case)]
    for backend in ("reference", "cpu"):
        d, meta = dump(case, backend, os.path.join(tmp, f"{backend}.safetensors"))
        layers = json.loads(meta["layers"])
        names = [f"{l['name']}.{p}" for l in layers if l["kind"] in ("conv", "linear")
                 for p in ("weight", "bias")]
        loss, grads, acts, branches = step(d, layers, names, follow=d)
        _, own_grads, _, own_branches = step(d, layers, names, follow=None)
        worst_grad = max((rel(t64(d["grad." + n]), grads[n]), n) for n in names)
        worst_act = max((rel(t64(d[f"act.{i}"]), acts[i]), layers[i - 1]["name"])
                        for i in range(1, len(acts)))
        naive = max(rel(t64(d["grad." + n]), own_grads[n]) for n in names)
        flips, flip_dist = audit_flips(branches, backend)
        loss_rel = abs(float(meta["loss"]) - loss) / abs(loss)
        line.append(f"{backend}: grad {worst_grad[0]:.1e} ({worst_grad[1]}) act "
                    f"{worst_act[0]:.1e} ({worst_act[1]}) flips {flips}"
                    f"{f' (<= {flip_dist:.0e} from the tie)' if flips else ''}"
                    f" | own branches {naive:.1e}")
        if backend == "cpu":
            line.append(f"[{meta['isa']}]")
        problems = []
        if worst_grad[0] > GRAD_TOL[backend]:
            problems.append(f"{worst_grad[1]} gradient off by {worst_grad[0]:.2e} of its "
                            f"largest (tolerance {GRAD_TOL[backend]:.0e})")
        if worst_act[0] > ACT_TOL[backend]:
            problems.append(f"{worst_act[1]} output off by {worst_act[0]:.2e} of its largest "
                            f"(tolerance {ACT_TOL[backend]:.0e})")
        if flips and flip_dist > KINK[backend]:
            problems.append(f"a branch differs from float64's {flip_dist:.2e} away from its "
                            f"tie (allowed {KINK[backend]:.0e}): a forward error, not a tie")
        if loss_rel > ACT_TOL[backend]:
            problems.append(f"loss {meta['loss']} vs float64 {loss:.9g}")
        for p in problems:
            failures.append(f"{case} [{backend}]: {p}")
    print("  ".join(line), flush=True)


def cases(quick, small_only):
    """Issue 12's two cases; small-28/32/64 at batch 4 over 10 seeds x {N(0, 1), ReLU-like};
    paper (2 seeds) and torchvision (1 seed) at batch 2, both inputs: about 4 minutes on 2
    cores, most of it the full configs' 61 M parameters in float64."""
    out = [
        # As reported: a conv4 ReLU input within rounding of 0 (flips under AVX2), and a pool2
        # window whose two largest values differ by ~6e-7 (flips at AVX-512).
        Case("small-32", 1, 11, "normal", 4, ["--input-size", "36", "--no-dropout",
                                               "--labels", "1,7,3,1"]),
        Case("small-32", 3, 11, "normal", 4, ["--labels", "1,7,3,1"]),
    ]
    seeds = range(1, 4) if quick else range(1, 11)
    for config in ("small-28", "small-32", "small-64"):
        for s in seeds:
            for dist in ("normal", "relu"):
                out.append(Case(config, s, 100 + s, dist, 4))
    if small_only:
        return out
    for config, n in (("paper", 1 if quick else 2), ("torchvision", 1)):
        for s in range(1, n + 1):
            for dist in ("normal", "relu"):
                out.append(Case(config, s, 100 + s, dist, 2))
    return out


def main():
    quick = "--quick" in sys.argv
    only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--case=")]
    match = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--match=")]
    todo = [c for c in cases(quick, "--small" in sys.argv) if not match or any(m in str(c) for m in match)]
    if only:
        todo = []
        for spec in only:  # CONFIG:MODEL:INPUT:DIST[:BATCH]
            parts = spec.split(":")
            todo.append(Case(parts[0], int(parts[1]), int(parts[2]), parts[3],
                             int(parts[4]) if len(parts) > 4 else 4))
    print(f"{len(todo)} cases; tolerances: gradients {GRAD_TOL}, activations {ACT_TOL}, "
          f"ties {KINK}; 'own branches' is the plain comparison, for information")
    failures = []
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for case in todo:
            check_case(case, tmp, failures)
    print(f"{len(todo)} cases in {time.time() - start:.0f} s")
    for f in failures:
        print("FAIL:", f)
    print(f"gradients: {len(todo) - len({f.split(' [')[0] for f in failures})} passed, "
          f"{len({f.split(' [')[0] for f in failures})} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
