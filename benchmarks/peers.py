#!/usr/bin/env python3
"""Peer benchmarks for bench_forward: the same torchvision AlexNet, the same weights, the
same method, in other inference engines.

  peers.py make-model OUTDIR          (Debian python3 with torch) writes
        OUTDIR/alexnet-tv.safetensors  torchvision state_dict, seeded variance-preserving
                                       weights (bench_forward --model loads it too)
        OUTDIR/alexnet-tv.onnx         torch.onnx.export of that model, dynamic batch
        OUTDIR/check-input.npy         a seeded (2, 3, 224, 224) input for the logits check
  peers.py run OUTDIR --peers pytorch,opencv [--batches 1,8,32] [--threads 1,2] ...
        prints one RESULT line per (peer, threads, batch), in bench_forward's format, and
        writes OUTDIR/logits-PEER.npy (logits of check-input.npy)
  peers.py table LOGFILE [--check-dir OUTDIR]
        reads RESULT lines (ours and the peers'), prints the comparison table

Peers: pytorch (torch.set_num_threads), opencv (cv2.dnn.readNetFromONNX,
cv2.setNumThreads), onnxruntime (intra_op_num_threads, inter_op 1, all graph
optimisations), openvino (CPU, INFERENCE_NUM_THREADS) three ways: "fp32" (precision hint
f32), "bf16" (hint bf16, where the CPU has it) and "default" (no precision hint: what a user
who changes nothing gets; OpenVINO picks bf16 itself on CPUs with avx512_bf16 or AMX). The last
two engines run in benchmarks/.venv (run.sh creates it); they need only numpy and the .onnx file.
Every RESULT line says its precision; for the Debian peers and ONNX Runtime that is fp32, their
default.

Method (bench_forward's): `warmup` untimed runs, then timed runs until both `min-runs` runs
and `min-time` seconds are reached (at most `max-runs`); the median and minimum per case.
"""
import argparse
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "conformance"))

MODEL_SEED = 2024
INPUT_SEED = 12345
CALIB_SEED = 777
CALIB_IMAGES = 16


def measure(fn, warmup, min_runs, max_runs, min_time):
    for _ in range(warmup):
        fn()
    times = []
    total = 0.0
    while len(times) < max_runs and (len(times) < min_runs or total < min_time):
        t0 = time.perf_counter()
        fn()
        s = time.perf_counter() - t0
        times.append(s * 1e3)
        total += s
    return statistics.median(times), min(times), len(times)


def make_model(outdir):
    import numpy as np
    import torch

    import st
    import torch_models as tm

    os.makedirs(outdir, exist_ok=True)
    model = tm.torchvision_alexnet(1000, seed=MODEL_SEED)
    st.write(os.path.join(outdir, "alexnet-tv.safetensors"), tm.torchvision_state(model))
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), os.path.join(outdir, "alexnet-tv.onnx"),
                      input_names=["input"], output_names=["logits"], opset_version=13,
                      dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
    np.save(os.path.join(outdir, "check-input.npy"), tm.seeded_input(2, 224, seed=INPUT_SEED))
    # int8 calibration set, the same for every engine (ours: bench_forward --calibration-npy)
    np.save(os.path.join(outdir, "calib.npy"), np.random.default_rng(CALIB_SEED).standard_normal(
        (CALIB_IMAGES, 3, 224, 224)).astype(np.float32))
    print("wrote %s/alexnet-tv.safetensors, alexnet-tv.onnx, check-input.npy, calib.npy" % outdir)


# --- peers: each returns (version, factory(threads) -> (run(x) -> logits)) ---

def peer_pytorch(outdir):
    import torch
    import torchvision

    import st

    tensors, _ = st.read(os.path.join(outdir, "alexnet-tv.safetensors"))
    model = torchvision.models.alexnet(weights=None, num_classes=tensors["classifier.6.bias"].shape[0])
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
    model.eval()

    def factory(threads):
        torch.set_num_threads(threads)

        def run(x):
            with torch.inference_mode():
                return model(torch.from_numpy(x)).numpy()
        return run
    return "pytorch %s (torchvision %s)" % (torch.__version__, torchvision.__version__), factory


def peer_opencv(outdir):
    import cv2

    net = cv2.dnn.readNetFromONNX(os.path.join(outdir, "alexnet-tv.onnx"))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def factory(threads):
        cv2.setNumThreads(threads)

        def run(x):
            net.setInput(x)
            return net.forward()
        return run
    return "opencv %s" % cv2.__version__, factory


def ort_int8_model(outdir):
    """alexnet-tv.onnx quantised by ONNX Runtime's quantize_static on calib.npy: QDQ, per-channel
    s8 weights, u8 activations (its documented CPU recipe)."""
    import numpy as np
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = os.path.join(outdir, "alexnet-tv-int8.onnx")
    if os.path.exists(out):
        return out
    calib = np.load(os.path.join(outdir, "calib.npy"))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    pre = os.path.join(outdir, "alexnet-tv-pre.onnx")
    quant_pre_process(os.path.join(outdir, "alexnet-tv.onnx"), pre, skip_symbolic_shape=True)
    quantize_static(pre, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def peer_onnxruntime(outdir):
    import onnxruntime as ort

    def variant(path):
        def factory(threads):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            name = sess.get_inputs()[0].name

            def run(x):
                return sess.run(None, {name: x})[0]
            return run
        return factory

    variants = [("fp32", variant(os.path.join(outdir, "alexnet-tv.onnx")))]
    try:
        variants.append(("int8", variant(ort_int8_model(outdir))))
    except Exception as e:  # reported, the fp32 numbers still count
        print("PEER-ERROR impl=onnxruntime precision=int8 error=%s" % repr(e).replace("\n", " "))
    return "onnxruntime %s" % ort.__version__, variants


def peer_openvino(outdir):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(os.path.join(outdir, "alexnet-tv.onnx"))

    def variant(hint):
        def factory(threads):
            config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
            if hint:
                config["INFERENCE_PRECISION_HINT"] = hint
            compiled = core.compile_model(model, "CPU", config)
            req = compiled.create_infer_request()

            def run(x):
                req.infer({0: x})
                return req.get_output_tensor(0).data.copy()
            return run
        return factory

    variants = [("fp32", variant("f32")), ("default", variant(None))]
    if "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        variants.append(("bf16", variant("bf16")))
    try:  # int8: NNCF's post-training quantisation on calib.npy (its default preset)
        import nncf
        import numpy as np
        calib = np.load(os.path.join(outdir, "calib.npy"))
        qmodel = nncf.quantize(model, nncf.Dataset([calib[i:i + 1] for i in range(len(calib))]),
                               subset_size=len(calib))

        def int8_factory(threads):
            compiled = core.compile_model(qmodel, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                         "PERFORMANCE_HINT": "LATENCY"})
            req = compiled.create_infer_request()

            def run(x):
                req.infer({0: x})
                return req.get_output_tensor(0).data.copy()
            return run
        variants.append(("int8", int8_factory))
    except Exception as e:
        print("PEER-ERROR impl=openvino precision=int8 error=%s" % repr(e).replace("\n", " "))
    return "openvino %s" % ov.__version__, variants


PEERS = {"pytorch": peer_pytorch, "opencv": peer_opencv, "onnxruntime": peer_onnxruntime,
         "openvino": peer_openvino}


def run_peers(args):
    import numpy as np

    batches = [int(b) for b in args.batches.split(",")]
    threads_list = [int(t) for t in args.threads.split(",")]
    check = np.load(os.path.join(args.outdir, "check-input.npy"))
    rc = 0
    for name in args.peers.split(","):
        try:
            version, factory = PEERS[name](args.outdir)
        except Exception as e:  # a missing engine is reported, not fatal for the others
            print("PEER-ERROR impl=%s error=%s" % (name, repr(e).replace("\n", " ")), flush=True)
            rc = 1
            continue
        print("VERSION impl=%s %s" % (name, version), flush=True)
        variants = factory if isinstance(factory, list) else [("fp32", factory)]
        for precision, make in variants:
            for threads in threads_list:
                run = make(threads)
                if threads == threads_list[-1] and precision == "fp32":
                    np.save(os.path.join(args.outdir, "logits-%s.npy" % name),
                            np.asarray(run(check), np.float32))
                for batch in batches:
                    x = np.random.default_rng(INPUT_SEED).standard_normal(
                        (batch, 3, 224, 224)).astype(np.float32)
                    med, mn, runs = measure(lambda: run(x), args.warmup, args.min_runs,
                                            args.max_runs, args.min_time)
                    print("RESULT impl=%s backend=cpu precision=%s config=torchvision batch=%d "
                          "threads=%d warmup=%d runs=%d median_ms=%.3f min_ms=%.3f "
                          "ms_per_image=%.3f images_per_s=%.2f" %
                          (name, precision, batch, threads, args.warmup, runs, med, mn, med / batch,
                           1e3 * batch / med), flush=True)
    return rc


RESULT_RE = re.compile(r"^RESULT (.*)$")


# A CPU's nominal peak, in operations (2 per multiply-add) per cycle per core, by the ISA
# oneDNN runs at (bench_forward's isa=) and the precision. Two 512-bit FMA ports are assumed
# on AVX-512 parts (some Xeon Silver/Bronze have one: half these). fp32: 16 lanes x 2 ops x
# 2 ports. int8 without VNNI: vpmaddubsw + vpmaddwd, about 2x fp32; VNNI's vpdpbusd 4x.
# bf16: vdpbf16ps 2x fp32. AMX: a TMUL per core, 1024 bf16 / 2048 int8 ops per cycle.
PEAK_OPS_PER_CYCLE = {
    "avx2": {"fp32": 32, "int8": 64},
    "avx512_core": {"fp32": 64, "int8": 128},
    "avx512_core_vnni": {"fp32": 64, "int8": 256},
    "avx512_core_bf16": {"fp32": 64, "bf16": 128, "int8": 256},
    "avx512_core_amx": {"fp32": 64, "bf16": 1024, "int8": 2048},
}
TORCHVISION_OPS_PER_IMAGE = 2 * 714.2e6  # forward_macs(torchvision(1000)), direct convolution


def peak_ops(isa, precision, threads, mhz):
    """Ops/s a CPU at `isa` can do at `precision` on `threads` cores; None when unknown.
    OpenVINO's "default" is bf16 where the ISA has it, else fp32."""
    table = PEAK_OPS_PER_CYCLE.get(isa)
    if not table or not mhz:
        return None
    if precision == "default":
        precision = "bf16" if "bf16" in table else "fp32"
    per_cycle = table.get(precision)
    return per_cycle * mhz * 1e6 * threads if per_cycle else None


def parse_results(path):
    rows = []
    versions = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("cpu MHz: "):
                try:
                    versions["_mhz"] = float(line.split()[2])
                except (IndexError, ValueError):
                    pass
            m = RESULT_RE.match(line)
            if m:
                kv = dict(p.split("=", 1) for p in m.group(1).split())
                rows.append(kv)
            elif line.startswith("VERSION impl="):
                rest = line[len("VERSION impl="):]
                impl, _, ver = rest.partition(" ")
                versions[impl] = ver
    return rows, versions


def table(args):
    rows, versions = parse_results(args.log)
    mhz = versions.pop("_mhz", None)
    isa = next((r["isa"] for r in rows if r.get("impl") == "alexnet" and "isa" in r), None)
    # best (lowest median) over thread counts, per (impl, precision, config, batch)
    best = {}
    for r in rows:
        r.setdefault("precision", "fp32")
        key = (r["impl"], r["precision"], r["config"], int(r["batch"]))
        if key not in best or float(r["median_ms"]) < float(best[key]["median_ms"]):
            best[key] = r
    batches = sorted({k[3] for k in best})
    order = ["alexnet", "pytorch", "opencv", "onnxruntime", "openvino"]
    porder = ["fp32", "bf16", "int8", "default"]
    engines = sorted({(k[0], k[1]) for k in best if k[2] == "torchvision"},
                     key=lambda e: (order.index(e[0]) if e[0] in order else 99,
                                    porder.index(e[1]) if e[1] in porder else 99))

    def cell(impl, config, b, precision="fp32"):
        return best.get((impl, precision, config, b))

    def ours_best(b):
        mine = [r for (i, p, c, bb), r in best.items() if i == "alexnet" and c == "torchvision" and bb == b]
        return min(mine, key=lambda r: float(r["median_ms"])) if mine else None

    out = []
    out.append("torchvision AlexNet (1000 classes, 224x224), median ms per forward of the batch "
               "[threads], images/s, ratio = that engine's median / our best precision's "
               "(> 1: ours is faster), and %% peak = its ops/s (2 x 714 M multiply-adds an image) "
               "over the CPU's nominal peak at that precision on the threads it used (%s at %s "
               "MHz; PEAK_OPS_PER_CYCLE in peers.py):" % (isa or "ISA unknown", mhz or "?"))
    hdr = "| engine | precision | " + " | ".join("batch %d: ms [thr] | img/s | ratio | %% peak" % b
                                               for b in batches) + " |"
    out.append(hdr)
    out.append("|" + "---|" * (2 + 4 * len(batches)))
    for impl, precision in engines:
        cells = []
        for b in batches:
            r = cell(impl, "torchvision", b, precision)
            ours = ours_best(b)
            if not r:
                cells += ["-", "-", "-", "-"]
                continue
            ratio = float(r["median_ms"]) / float(ours["median_ms"]) if ours else float("nan")
            peak = peak_ops(isa, precision, int(r["threads"]), mhz)
            achieved = TORCHVISION_OPS_PER_IMAGE * b / (float(r["median_ms"]) / 1000)
            cells += ["%.2f [%s]" % (float(r["median_ms"]), r["threads"]), "%.1f" % float(r["images_per_s"]),
                      "%.2f" % ratio, "%.0f%%" % (100 * achieved / peak) if peak else "-"]
        name = "libalexnet (ours)" if impl == "alexnet" else impl
        out.append("| %s | %s | %s |" % (name, precision, " | ".join(cells)))
    paper = [cell("alexnet", "paper", b) for b in batches]
    if any(paper):
        out.append("")
        out.append("libalexnet, paper config (227x227, groups 2, LRN), median ms [threads] / images/s: " +
                   ", ".join("batch %d: %.2f [%s] / %.1f" % (b, float(r["median_ms"]), r["threads"],
                                                           float(r["images_per_s"]))
                             for b, r in zip(batches, paper) if r))
    # verdict against the Debian peers
    out.append("")
    for b in (1, 32):
        ours = cell("alexnet", "torchvision", b)
        deb = [cell(p, "torchvision", b) for p in ("pytorch", "opencv")]
        deb = [d for d in deb if d]
        if not ours or not deb:
            continue
        bp = min(deb, key=lambda r: float(r["median_ms"]))
        o, p = float(ours["median_ms"]), float(bp["median_ms"])
        out.append("batch %d: ours %.2f ms vs best Debian peer (%s) %.2f ms -> %s (%.2fx)" %
                   (b, o, bp["impl"], p, "ours FASTER" if o < p else "ours SLOWER", p / o))
    # against every peer as a user gets it (its default precision), and precision by precision
    defaults = [("pytorch", "fp32"), ("opencv", "fp32"), ("onnxruntime", "fp32"), ("openvino", "default")]
    for b in (1, 32):
        ours = ours_best(b)
        peers_default = [cell(i, "torchvision", b, p) for i, p in defaults]
        peers_default = [r for r in peers_default if r]
        if ours and peers_default:
            bp = min(peers_default, key=lambda r: float(r["median_ms"]))
            o, p = float(ours["median_ms"]), float(bp["median_ms"])
            out.append("batch %d: ours at its best (%s) %.2f ms vs the best peer's default (%s) %.2f ms "
                       "-> %.2fx%s" % (b, ours["precision"], o, bp["impl"], p, p / o,
                                       " (goal 2x)" if p / o < 2 else ""))
        for precision in ("fp32", "bf16", "int8"):
            mine = cell("alexnet", "torchvision", b, precision)
            theirs = [r for (i, pr, c, bb), r in best.items()
                      if i != "alexnet" and pr == precision and c == "torchvision" and bb == b]
            if mine and theirs:
                bp = min(theirs, key=lambda r: float(r["median_ms"]))
                o, p = float(mine["median_ms"]), float(bp["median_ms"])
                out.append("batch %d, %s: ours %.2f ms vs best peer (%s) %.2f ms -> %s (%.2fx)" %
                           (b, precision, o, bp["impl"], p, "ours FASTER" if o < p else "ours SLOWER", p / o))
    if versions:
        out.append("")
        out.append("peer versions: " + "; ".join("%s" % v for v in versions.values()))
    if args.check_dir:
        try:
            import numpy as np
            ref_path = os.path.join(args.check_dir, "logits-pytorch.npy")
            ref = np.load(ref_path)
            diffs = []
            for impl in dict.fromkeys(i for i, _ in engines):
                p = os.path.join(args.check_dir, "logits-%s.npy" % impl)
                if impl != "pytorch" and os.path.exists(p):
                    diffs.append("%s %.2g" % (impl, float(np.abs(np.load(p) - ref).max())))
            out.append("same weights check: max|logits - pytorch's| on a (2,3,224,224) input "
                       "(max|logits| %.3g): %s" % (float(np.abs(ref).max()), ", ".join(diffs)))
        except Exception as e:
            out.append("same weights check: not available (%s)" % e)
    print("\n".join(out))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-model")
    m.add_argument("outdir")
    r = sub.add_parser("run")
    r.add_argument("outdir")
    r.add_argument("--peers", default="pytorch,opencv")
    r.add_argument("--batches", default="1,8,32")
    r.add_argument("--threads", default="1,2")
    r.add_argument("--warmup", type=int, default=3)
    r.add_argument("--min-runs", type=int, default=10)
    r.add_argument("--max-runs", type=int, default=200)
    r.add_argument("--min-time", type=float, default=3.0)
    t = sub.add_parser("table")
    t.add_argument("log")
    t.add_argument("--check-dir")
    args = ap.parse_args()
    if args.cmd == "make-model":
        make_model(args.outdir)
        return 0
    if args.cmd == "run":
        return run_peers(args)
    return table(args)


if __name__ == "__main__":
    sys.exit(main())
