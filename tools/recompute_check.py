"""Does `TrainConfig.recompute` change training? Two steps of the tiny preset with K=3 views, twice without it and once
with it, from the same seed: how far apart the weights of G and D end up (the norm of the difference over the norm of
the two steps' update), recompute against plain, beside the plain runs' own run-to-run difference (a GPU's kernels need
not be bit-reproducible). Usage: python tools/recompute_check.py [device]"""
import torch
import sys
from geo3d.step import TrainStep
from geo3d.config import TrainConfig
from geo3d.synthetic import embedded_dataset

device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
data = embedded_dataset(4, 64, progress=False)


def params(recompute):
    "All weights of G and D, flat, at the start and after two steps."
    ts = TrainStep(TrainConfig(preset="tiny", batch=4, views=3, switch_kimg=0.0, auto_switch=False, kimg=10, recompute=recompute),
                   data, device=device)
    flat = lambda: torch.cat([p.detach().float().flatten().cpu() for p in [*ts.G.parameters(), *ts.D.parameters()]])
    start = flat()
    for _ in range(2): ts.train_step()
    return start, flat()


(start, plain), (_, again), (_, rc) = params(False), params(False), params(True)
update = (plain - start).norm()
noise, change = ((plain - again).norm() / update).item(), ((plain - rc).norm() / update).item()
print(f"recompute_check on {device}: weights after 2 steps, |difference| / |update|: recompute vs plain {change:.2e}, "
      f"plain vs plain {noise:.2e}")
ok = change <= max(10 * noise, 1e-6)
print("ok" if ok else "FAILED: recompute changes training beyond the run-to-run noise")
sys.exit(0 if ok else 1)
