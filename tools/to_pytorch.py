#!/usr/bin/env python3
"""Take libalexnet weights back to PyTorch, and bring torchvision's AlexNet in.

Our weights file (safetensors with the config, labels and preprocessing inside,
docs/weights-format.md) becomes an equivalent torch module: the same layers in the same
order, so its logits equal alexnet-classify's (tests/tools/test_to_pytorch.py checks it for
every config). For the torchvision config, the module's state_dict has torchvision's names
and loads straight into torchvision.models.alexnet(num_classes=N).

Command line:
    tools/to_pytorch.py WEIGHTS.safetensors OUT.pt               # torch.save(state_dict)
    tools/to_pytorch.py --torchscript WEIGHTS.safetensors OUT.pt # torch.jit.load()-able module
    tools/to_pytorch.py --from-torchvision STATE.pth OUT.safetensors
                        # a torchvision AlexNet state_dict (torch.save) → safetensors

As a module (sys.path.insert(0, "tools"); import to_pytorch):
    model, info = to_pytorch.load("alexnet.safetensors")   # info: config, labels, preprocess
    to_pytorch.save_safetensors(torchvision_model.state_dict(), "alexnet.safetensors")

Needs only torch and numpy (Debian: python3-torch, python3-numpy); torchvision is not
needed. This is a tool for users and tests; nothing in the project needs Python at run time.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8")}


def read_safetensors(path):
    """(dict name -> float32 numpy array, metadata dict of str -> str)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    out = {}
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            raw = np.frombuffer(data[base + b:base + end], dtype="<u2").astype(np.uint32) << 16
            arr = raw.view(np.float32)
        elif e["dtype"] in _DTYPES:
            arr = np.frombuffer(data[base + b:base + end], dtype=_DTYPES[e["dtype"]])
        else:
            raise ValueError(f"{path}: tensor '{name}' has dtype {e['dtype']} (F32/F16/BF16/F64)")
        out[name] = arr.reshape(e["shape"]).astype(np.float32)
    return out, meta


def save_safetensors(tensors, path, metadata=None):
    """Writes tensors (a dict or list of (name, tensor/array), e.g. a state_dict) as float32
    safetensors, in the given order. Same bytes as safetensors.torch.save_file would hold
    for float32 tensors, without needing the safetensors package."""
    items = list(tensors.items()) if isinstance(tensors, dict) else list(tensors)
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, offset = [], 0
    for name, t in items:
        if isinstance(t, torch.Tensor):
            t = t.detach().to(torch.float32).cpu().contiguous().numpy()
        a = np.ascontiguousarray(np.asarray(t, dtype="<f4"))
        raw = a.tobytes()
        header[name] = {"dtype": "F32", "shape": [int(d) for d in a.shape],
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def torchvision_config(classes):
    """NetConfig::torchvision(classes) as JSON (what the loader assumes for a state_dict)."""
    convs = [(64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
             (256, 3, 1, 1, False), (256, 3, 1, 1, True)]
    return {"variant": "torchvision", "in_channels": 3, "input_size": 224,
            "conv": [{"out_channels": o, "kernel": k, "stride": s, "pad": p, "groups": 1,
                      "lrn": False, "pool": pl} for (o, k, s, p, pl) in convs],
            "lrn": {"enabled": False, "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0,
                    "alpha_convention": "divided_by_n"},
            "pool": {"kernel": 3, "stride": 2}, "adaptive_pool": 6, "fc": [4096, 4096],
            "classes": classes, "dropout": 0.5, "dropout_order": "before_fc"}


class AlexNet(nn.Module):
    """Any libalexnet config (lib/src/core/config.cpp build_layers) as torch layers, laid out like
    torchvision's AlexNet (features, avgpool, classifier), so the torchvision config has
    torchvision's parameter names."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        lrn = config["lrn"]
        # torch's LocalResponseNorm divides alpha by size; ours may use it as written.
        alpha = lrn["alpha"] * lrn["size"] if lrn["alpha_convention"] == "paper" else lrn["alpha"]
        layers, ch = [], config["in_channels"]
        self._param_layers = []  # (our name, module)
        for i, c in enumerate(config["conv"]):
            conv = nn.Conv2d(ch, c["out_channels"], c["kernel"], stride=c["stride"],
                             padding=c["pad"], groups=c["groups"])
            layers += [conv, nn.ReLU(inplace=True)]
            self._param_layers.append((f"conv{i + 1}", conv))
            if c["lrn"] and lrn["enabled"]:
                layers.append(nn.LocalResponseNorm(lrn["size"], alpha=alpha, beta=lrn["beta"],
                                                   k=lrn["k"]))
            if c["pool"]:
                layers.append(nn.MaxPool2d(config["pool"]["kernel"], config["pool"]["stride"]))
            ch = c["out_channels"]
        self.features = nn.Sequential(*layers)
        a = config["adaptive_pool"]
        self.avgpool = nn.AdaptiveAvgPool2d((a, a)) if a > 0 else nn.Identity()
        with torch.no_grad():
            s = config["input_size"]
            flat = self.avgpool(self.features(torch.zeros(1, config["in_channels"], s, s))).numel()
        fc6 = nn.Linear(flat, config["fc"][0])
        fc7 = nn.Linear(config["fc"][0], config["fc"][1])
        fc8 = nn.Linear(config["fc"][1], config["classes"])
        p = config["dropout"]
        if config["dropout_order"] == "before_fc":
            cls = [nn.Dropout(p), fc6, nn.ReLU(inplace=True), nn.Dropout(p), fc7,
                   nn.ReLU(inplace=True), fc8]
        else:  # after_relu (the paper)
            cls = [fc6, nn.ReLU(inplace=True), nn.Dropout(p), fc7, nn.ReLU(inplace=True),
                   nn.Dropout(p), fc8]
        self.classifier = nn.Sequential(*cls)
        self._param_layers += [("fc6", fc6), ("fc7", fc7), ("fc8", fc8)]

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))

    def load_ours(self, tensors):
        """Copies our tensors (conv1.weight … fc8.bias) into the layers; shapes must match."""
        with torch.no_grad():
            for name, m in self._param_layers:
                for kind in ("weight", "bias"):
                    t = torch.from_numpy(np.array(tensors[f"{name}.{kind}"]))
                    dst = getattr(m, kind)
                    if tuple(t.shape) != tuple(dst.shape):
                        raise ValueError(f"tensor '{name}.{kind}' has shape {tuple(t.shape)}; "
                                         f"the config needs {tuple(dst.shape)}")
                    dst.copy_(t)
        return self


_TV_NAMES = {"features.0": "conv1", "features.3": "conv2", "features.6": "conv3",
             "features.8": "conv4", "features.10": "conv5", "classifier.1": "fc6",
             "classifier.4": "fc7", "classifier.6": "fc8"}


def load(path):
    """Our weights file (or a torchvision state_dict in safetensors) → (AlexNet module in
    eval mode, info dict with "config", "labels", "preprocess", "provenance")."""
    tensors, meta = read_safetensors(path)
    if "alexnet.format_version" in meta:
        config = json.loads(meta["alexnet.config"])
        pre = json.loads(meta["alexnet.preprocess"])
        labels = json.loads(meta["alexnet.labels"]) if "alexnet.labels" in meta else None
        prov = json.loads(meta.get("alexnet.provenance", "{}"))
    elif "classifier.6.weight" in tensors:
        tensors = {_TV_NAMES[k.rsplit(".", 1)[0]] + "." + k.rsplit(".", 1)[1]: v
                   for k, v in tensors.items() if k.rsplit(".", 1)[0] in _TV_NAMES}
        config = torchvision_config(tensors["fc8.weight"].shape[0])
        pre = {"resize": 256, "crop": "center", "interpolation": "bilinear",
               "scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
               "channel_order": "rgb"}
        labels, prov = None, {"source": "torchvision state_dict"}
    else:
        raise ValueError(f"{path}: neither an alexnet weights file nor a torchvision state_dict")
    if labels is None:
        labels = [f"class_{i}" for i in range(config["classes"])]
    model = AlexNet(config).load_ours(tensors).eval()
    return model, {"config": config, "labels": labels, "preprocess": pre, "provenance": prov}


def main(argv):
    usage = ("usage: to_pytorch.py [--torchscript] WEIGHTS.safetensors OUT.pt\n"
             "       to_pytorch.py --from-torchvision STATE.pth OUT.safetensors\n")
    args = argv[1:]
    if any(a in ("-h", "--help") for a in args):
        sys.stdout.write(usage + __doc__.split("Command line:")[0].split("\n", 1)[1])
        return 0
    if args and args[0] == "--from-torchvision":
        if len(args) != 3:
            sys.stderr.write(usage)
            return 2
        sd = torch.load(args[1], map_location="cpu")
        if not isinstance(sd, dict) or "classifier.6.weight" not in sd:
            sys.stderr.write(f"to_pytorch.py: {args[1]}: not a torchvision AlexNet state_dict "
                             "(no 'classifier.6.weight')\n")
            return 1
        save_safetensors(sd, args[2])
        print(f"wrote {args[2]} ({len(sd)} tensors, {sd['classifier.6.weight'].shape[0]} classes)")
        return 0
    script = bool(args) and args[0] == "--torchscript"
    if script:
        args = args[1:]
    if len(args) != 2 or args[0].startswith("-"):
        sys.stderr.write(usage)
        return 2
    try:
        model, info = load(args[0])
    except (OSError, ValueError, KeyError) as e:
        sys.stderr.write(f"to_pytorch.py: {e}\n")
        return 1
    c = info["config"]
    if script:
        s = c["input_size"]
        traced = torch.jit.trace(model, torch.zeros(1, c["in_channels"], s, s))
        traced.save(args[1])
        print(f"wrote {args[1]}: TorchScript, input (N, {c['in_channels']}, {s}, {s}); "
              f"load with torch.jit.load")
    else:
        torch.save(model.state_dict(), args[1])
        how = ("torchvision.models.alexnet(num_classes=%d).load_state_dict(torch.load(...))"
               % c["classes"] if c["variant"] == "torchvision"
               else "to_pytorch.AlexNet(config).load_state_dict(torch.load(...))")
        print(f"wrote {args[1]}: state_dict of the {c['variant']} config; load with {how}")
    print("labels: " + ", ".join(info["labels"][:10]) + (" …" if len(info["labels"]) > 10 else ""))
    print("preprocess: " + json.dumps(info["preprocess"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
