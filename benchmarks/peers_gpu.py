#!/usr/bin/env python3
"""PyTorch's AlexNet on the GPU: the peer of `bench_forward --backend cuda` (same method).

Runs on a GPU host (python3 with torch + torchvision). Prints RESULT lines in
bench_forward's format, for
  inference: torchvision alexnet (random weights), batches 1, 8, 32, 256, fp32 and fp16
             (autocast), cudnn.benchmark on, channels_last; each timed unit is host input
             -> GPU -> logits back on the host, as bench_forward's Network::forward;
  training:  one SGD step (forward with dropout, cross-entropy, backward, momentum update)
             at batch 128 in fp32, host batch copied in, loss read back, like --mode train.
Method: `warmup` untimed units, then timed units until min-runs and min-time are reached;
the median. TF32 is off (torch.backends.*.allow_tf32 = False) so fp32 means fp32, as ours.

  peers_gpu.py [--batch 1,8,32,256] [--train-batch 128] [--min-time 2] [--min-runs 10]
"""
import argparse
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", default="1,8,32,256")
    ap.add_argument("--train-batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--min-runs", type=int, default=10)
    ap.add_argument("--max-runs", type=int, default=500)
    ap.add_argument("--min-time", type=float, default=2.0)
    a = ap.parse_args()
    import torch
    import torchvision

    if not torch.cuda.is_available():
        print("peers_gpu: no CUDA device for PyTorch", file=sys.stderr)
        return 1
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda:0")
    print("# torch %s, torchvision %s, CUDA %s, cuDNN %s, %s" % (
        torch.__version__, torchvision.__version__, torch.version.cuda,
        torch.backends.cudnn.version(), torch.cuda.get_device_name(0)), flush=True)

    def timed(fn, batch, tag, mode, precision):
        for _ in range(a.warmup):
            fn()
        torch.cuda.synchronize()
        ms, total = [], 0.0
        while len(ms) < a.max_runs and (len(ms) < a.min_runs or total < a.min_time):
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            s = time.perf_counter() - t0
            ms.append(s * 1e3)
            total += s
        med = statistics.median(ms)
        print("RESULT impl=pytorch backend=%s precision=%s mode=%s config=torchvision batch=%d "
              "threads=0 warmup=%d runs=%d median_ms=%.3f min_ms=%.3f ms_per_image=%.3f "
              "images_per_s=%.2f" % (tag, precision, mode, batch, a.warmup, len(ms), med,
                                     min(ms), med / batch, 1e3 * batch / med), flush=True)

    model = torchvision.models.alexnet(weights=None).to(dev).eval()
    model = model.to(memory_format=torch.channels_last)
    for batch in [int(b) for b in a.batch.split(",")]:
        x_host = torch.randn(batch, 3, 224, 224)
        for precision in ("fp32", "fp16"):
            def run():
                with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16,
                                                     enabled=precision == "fp16"):
                    x = x_host.to(dev, non_blocking=False).to(memory_format=torch.channels_last)
                    return model(x).float().cpu()
            timed(run, batch, "cuda", "forward", precision)

    net = torchvision.models.alexnet(weights=None).to(dev).train()
    net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    b = a.train_batch
    x_host = torch.randn(b, 3, 224, 224)
    y_host = torch.arange(b) % 1000
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        x = x_host.to(dev).to(memory_format=torch.channels_last)
        y = y_host.to(dev)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    timed(step, b, "cuda", "train", "fp32")
    return 0


if __name__ == "__main__":
    sys.exit(main())
