"""One training run of the from-scratch recipe search on the embedded MNIST data.

The search behind the "what was tried" table of ``docs/guides/results.rst``: LeNet,
exact or min-conv, trained on the 5,000 embedded training digits with the options
below, printing one JSON line per epoch. Intermediate epochs are evaluated on the
first 2,000 official test images (to save time); the last epoch on all 10,000.

It builds what ``python -m tinymin train`` builds (same seeding: ``manual_seed``, then
the model, then a loader shuffled with ``seed=``), and adds the knobs the search
varied: a linear warm-up over the first epochs, the min layers' weight scale, clip
bound, running-scale momentum and input scale multiple.

Usage::

    python benchmarks/recipe_search.py --conv min --epochs 10 --sched cosine --scale channel
"""

from __future__ import annotations

import argparse
import json
import math
import time

import tinymin
from tinymin import optim
from tinymin.data import DataLoader, Subset
from tinymin.data.datasets import EmbeddedMNIST
from tinymin.models import build_model
from tinymin.train import evaluate, train_epoch


def learning_rate(epoch: int, base: float, epochs: int, warmup: int, schedule: str) -> float:
    """Learning rate of 0-based ``epoch``: linear warm-up, then constant or cosine."""
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    if schedule == "cosine":
        t = (epoch - warmup) / max(1, epochs - warmup)
        return base * 0.5 * (1 + math.cos(math.pi * t))
    return base


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--conv", choices=["exact", "min"], default="min")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--opt", choices=["adam", "adamw", "sgd"], default="adam")
    p.add_argument("--wd", type=float, default=0.0, help="weight decay")
    p.add_argument("--sched", choices=["none", "cosine"], default="none")
    p.add_argument("--warmup", type=int, default=0, help="epochs of linear warm-up")
    p.add_argument("--clip", type=float, default=4.0, help="clip bound T; <= 0: no clip")
    p.add_argument("--scale", choices=["layer", "channel"], default="layer")
    p.add_argument("--momentum", type=float, default=0.1,
                   help="momentum of the running input scale; < 0: cumulative average")
    p.add_argument("--xmult", type=float, default=1.0,
                   help="input scale multiple c: mu_x = c * mean|x| (1 in the paper)")
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="")
    a = p.parse_args(argv)

    tinymin.manual_seed(a.seed)
    options = {}
    if a.conv == "min":
        options = dict(clip_value=None if a.clip <= 0 else a.clip, scale=a.scale,
                       momentum=None if a.momentum < 0 else a.momentum)
    model = build_model("lenet", conv=a.conv, **options)
    for module in model.modules():
        if hasattr(module, "input_scale_multiple"):
            module.input_scale_multiple[0] = a.xmult
    train = DataLoader(EmbeddedMNIST(train=True), a.bs, shuffle=True, seed=a.seed)
    test_set = EmbeddedMNIST(train=False)
    test = DataLoader(test_set, 500)
    probe = DataLoader(Subset(test_set, range(2000)), 500)
    params = model.parameters()
    if a.opt == "sgd":
        opt = optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=a.wd)
    else:
        opt = (optim.Adam if a.opt == "adam" else optim.AdamW)(params, lr=a.lr, weight_decay=a.wd)
    start = time.perf_counter()
    for epoch in range(a.epochs):
        lr = learning_rate(epoch, a.lr, a.epochs, a.warmup, a.sched)
        for group in opt.param_groups:
            group["lr"] = lr
        trained = train_epoch(model, opt, train, progress=False)
        last = epoch + 1 == a.epochs
        tested = evaluate(model, test if last else probe)
        print(json.dumps({**vars(a), "epoch": epoch + 1, "lr_used": lr,
                          "train_acc": trained["accuracy"], "train_loss": trained["loss"],
                          "test_acc": tested["accuracy"], "full_test": last,
                          "seconds": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
