#!/usr/bin/env python3
"""PyTorch training the same network as `bench_forward --mode train`, for the CPU training
benchmark (benchmarks/train.sh). Debian's torch under /usr/bin/python3.

The network is built from the config stored in one of our weights files (the JSON of
NetConfig: the same convolutions, groups, LRN with the alpha convention mapped, pools,
adaptive pool, fully connected layers and dropout order), so both sides train exactly the
same architecture. One timed unit = one SGD step: forward with dropout, mean cross-entropy,
backward, SGD with momentum 0.9 and weight decay 5e-4, on a fixed random batch; the loss
is read back (item()) so the step is complete. Prints RESULT lines in bench_forward's
format (impl=pytorch mode=train).

  train_peers.py MODEL.safetensors --batch 128 --threads 1,2 [--min-runs 5] [--min-time 3]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "conformance"))
import st  # noqa: E402  (our minimal safetensors reader)


def build(cfg):
    import torch
    from torch import nn

    layers = []
    c = cfg["in_channels"]
    size = cfg["input_size"]
    lrn = cfg["lrn"]
    # torch's LocalResponseNorm divides alpha by n; the paper's alpha is used as written.
    alpha = lrn["alpha"] * lrn["size"] if lrn["alpha_convention"] == "paper" else lrn["alpha"]
    pk, ps = cfg["pool"]["kernel"], cfg["pool"]["stride"]
    for conv in cfg["conv"]:
        layers += [nn.Conv2d(c, conv["out_channels"], conv["kernel"], stride=conv["stride"],
                             padding=conv["pad"], groups=conv["groups"]), nn.ReLU()]
        size = (size + 2 * conv["pad"] - conv["kernel"]) // conv["stride"] + 1
        c = conv["out_channels"]
        if conv["lrn"] and lrn["enabled"]:
            layers.append(nn.LocalResponseNorm(lrn["size"], alpha=alpha, beta=lrn["beta"],
                                               k=lrn["k"]))
        if conv["pool"]:
            layers.append(nn.MaxPool2d(pk, ps))
            size = (size - pk) // ps + 1
    if cfg["adaptive_pool"]:
        layers.append(nn.AdaptiveAvgPool2d(cfg["adaptive_pool"]))
        size = cfg["adaptive_pool"]
    layers.append(nn.Flatten())
    features = c * size * size
    before = cfg["dropout_order"] == "before_fc"
    p = cfg["dropout"]
    for width in cfg["fc"]:
        if before:
            layers += [nn.Dropout(p), nn.Linear(features, width), nn.ReLU()]
        else:
            layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(p)]
        features = width
    layers.append(nn.Linear(features, cfg["classes"]))
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--min-runs", type=int, default=5)
    ap.add_argument("--max-runs", type=int, default=200)
    ap.add_argument("--min-time", type=float, default=3.0)
    a = ap.parse_args()
    import torch

    _, meta = st.read(a.model)
    cfg = json.loads(meta["alexnet.config"])
    name = os.path.splitext(os.path.basename(a.model))[0]
    torch.manual_seed(1)
    net = build(cfg).train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, cfg["in_channels"], cfg["input_size"], cfg["input_size"])
    y = torch.arange(a.batch) % cfg["classes"]
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        for _ in range(a.warmup):
            step()
        ms, total = [], 0.0
        while len(ms) < a.max_runs and (len(ms) < a.min_runs or total < a.min_time):
            t0 = time.perf_counter()
            step()
            s = time.perf_counter() - t0
            ms.append(s * 1e3)
            total += s
        med = statistics.median(ms)
        print("RESULT impl=pytorch backend=cpu precision=fp32 mode=train config=%s batch=%d "
              "threads=%d warmup=%d runs=%d median_ms=%.3f min_ms=%.3f ms_per_image=%.3f "
              "images_per_s=%.2f" % (name, a.batch, threads, a.warmup, len(ms), med, min(ms),
                                     med / a.batch, 1e3 * a.batch / med), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
