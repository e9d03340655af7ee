"""Independent PyTorch versions of our network configs, with seeded variance-preserving
random weights, and the weights-file metadata we write for them.

Shared by tests/conformance/conformance.py and benchmarks/peers.py. Needs torch (and
torchvision for the torchvision variant).
"""
import json

import numpy as np
import torch
from torch import nn

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def init_variance_preserving(model, seed):
    """Kaiming-normal weights N(0, 2/fan_in) (fan_in = in/groups * k * k for convs) and small
    uniform biases in [-0.1, 0.1], drawn from one seeded generator in module order."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight
                fan_in = w[0].numel()
                w.copy_(torch.randn(w.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.2 - 0.1)
    return model


def torchvision_alexnet(classes=1000, seed=1):
    import torchvision

    m = torchvision.models.alexnet(weights=None, num_classes=classes)
    init_variance_preserving(m, seed)
    return m.eval()


def paper_alexnet(classes=10, seed=1, alpha_convention="paper", lrn_alpha=1e-4, lrn_size=5,
                  lrn_beta=0.75, lrn_k=2.0):
    """The paper's net (227 input, two-group conv2/4/5, LRN after relu1/relu2) as a plain
    nn.Sequential. torch's LocalResponseNorm divides alpha by n, so the paper's alpha (used
    as written) maps to alpha * n, and a "divided_by_n" alpha maps to itself."""
    torch_alpha = lrn_alpha * lrn_size if alpha_convention == "paper" else lrn_alpha

    def lrn():
        return nn.LocalResponseNorm(size=lrn_size, alpha=torch_alpha, beta=lrn_beta, k=lrn_k)

    m = nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4, padding=0), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, stride=1, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, classes),
    )
    init_variance_preserving(m, seed)
    return m.eval()


def our_names(model):
    """(our name, tensor) in param_infos order: conv1.weight, conv1.bias, ..., fc8.bias."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 5 and len(fcs) == 3
    out = []
    for i, c in enumerate(convs):
        out += [("conv%d.weight" % (i + 1), c.weight), ("conv%d.bias" % (i + 1), c.bias)]
    for i, f in enumerate(fcs):
        out += [("fc%d.weight" % (i + 6), f.weight), ("fc%d.bias" % (i + 6), f.bias)]
    return [(n, t.detach().to(torch.float32).contiguous().numpy()) for n, t in out]


def torchvision_state(model):
    """The state_dict with torchvision's names, float32, in module order."""
    return [(k, v.detach().to(torch.float32).contiguous().numpy()) for k, v in model.state_dict().items()]


def paper_config(classes, alpha_convention="paper"):
    """NetConfig::paper(classes) as NetConfig::to_json writes it (nlohmann: keys sorted,
    compact)."""
    convs = [(96, 11, 4, 0, 1, True, True), (256, 5, 1, 2, 2, True, True),
             (384, 3, 1, 1, 1, False, False), (384, 3, 1, 1, 2, False, False),
             (256, 3, 1, 1, 2, False, True)]
    cfg = {
        "variant": "paper",
        "in_channels": 3,
        "input_size": 227,
        "conv": [{"out_channels": o, "kernel": k, "stride": s, "pad": p, "groups": g, "lrn": l,
                  "pool": pl} for (o, k, s, p, g, l, pl) in convs],
        "lrn": {"enabled": True, "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0,
                "alpha_convention": alpha_convention},
        "pool": {"kernel": 3, "stride": 2},
        "adaptive_pool": 0,
        "fc": [4096, 4096],
        "classes": classes,
        "dropout": 0.5,
        "dropout_order": "after_relu",
    }
    return json.dumps(cfg, sort_keys=True, separators=(",", ":"))


def metadata(config_json, classes, provenance=None):
    pre = {"resize": 256, "crop": "center", "interpolation": "bilinear",
           "scale": 0.00392156862745098, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
           "channel_order": "rgb"}
    return {
        "alexnet.format_version": "1",
        "alexnet.config": config_json,
        "alexnet.labels": json.dumps(["class_%d" % i for i in range(classes)]),
        "alexnet.preprocess": json.dumps(pre, separators=(",", ":")),
        "alexnet.provenance": json.dumps(provenance or {"source": "tests/conformance"}),
    }


def seeded_input(n, size, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 3, size, size)) * scale).astype(np.float32)


def forward64(model, x):
    """Reference logits computed in float64 (so the reference's own rounding is negligible)."""
    import copy

    m = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        return m(torch.from_numpy(x.astype(np.float64))).numpy()
