"""Training speed: seconds per step and images per second for single-view (K=1) and multi-view (K=3) discrimination,
side by side in one run (rounds alternate between the two, so machine noise hits both).

A step is one generator phase and one discriminator phase at the global batch (plus the lazy regularisers at their
intervals, averaged in by timing a whole number of intervals). "images/s" counts real images consumed (kimg pace);
"views/s" counts rendered generated views. On CUDA also peak memory and sec/kimg.

    python bench/bench_train.py                                   # tiny preset, CPU, batch 8
    python bench/bench_train.py --preset imagenet256 --batch 8    # the paper's model (GPU; bf16 autocast)
"""
import argparse
import os
import statistics
import tempfile
import time

import torch


def make_trainer(preset, batch, views, device, data, seed=0):
    from geo3d.train import Trainer
    from geo3d.config import TrainConfig
    cfg = TrainConfig(preset=preset, batch=batch, views=views, switch_kimg=0.0 if views > 1 else -1.0, auto_switch=False,
                      kimg=1e6, snapshot_kimg=1e6, log_every=10**9, seed=seed)
    out = tempfile.mkdtemp(prefix="geo3d-bench-")
    return Trainer(cfg, out, device=device, progress=False, data=data)


def timed_steps(tr, n):
    sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        tr.train_step()
    sync()
    return (time.perf_counter() - t0) / n


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--views", type=int, default=3, help="K for the multi-view variant")
    p.add_argument("--steps", type=int, default=16, help="timed steps per round (a multiple of the R1 interval 16 is fair)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    os.environ.setdefault("GEO3D_CACHE", os.path.join(tempfile.gettempdir(), "geo3d-bench-cache"))
    from geo3d.synthetic import embedded_dataset
    from geo3d.imageset import ImageSet
    from geo3d.generator import preset
    res = preset(a.preset).output_resolution
    data = embedded_dataset(8, res, progress=False)                 # small: speed does not depend on the set's size
    variants = {f"K=1": make_trainer(a.preset, a.batch, 1, a.device, data), f"K={a.views}": make_trainer(a.preset, a.batch, a.views, a.device, data)}
    for tr in variants.values():
        tr.train_step(); tr.train_step()                               # warm-up, and step 0's regularisers
    times = {k: [] for k in variants}
    peak = {}
    for _ in range(a.rounds):
        for k, tr in variants.items():
            if tr.device.type == "cuda": torch.cuda.reset_peak_memory_stats()
            times[k].append(timed_steps(tr, a.steps))
            if tr.device.type == "cuda": peak[k] = torch.cuda.max_memory_allocated() / 2**30
    tr0 = next(iter(variants.values()))
    dev = torch.cuda.get_device_name() if tr0.device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"preset {a.preset}, batch {a.batch}, {dev}, {a.steps} steps x {a.rounds} rounds (median)")
    base = None
    for k, ts in times.items():
        s = statistics.median(ts)
        v = int(k.split("=")[1])
        mem = f", peak {peak[k]:.2f} GB" if k in peak else ""
        rel = "" if base is None else f"  ({s / base:.2f}x the K=1 step)"
        print(f"{k}: {s:.3f} s/step, {a.batch / s:.1f} images/s, {a.batch * v / s:.1f} views/s, {1000 / a.batch * s:.0f} s/kimg{mem}{rel}")
        base = base or s


if __name__ == "__main__":
    main()
