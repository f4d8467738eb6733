"""Does `TrainConfig.recompute` change training? Two steps of the tiny preset with K=3 views, twice without it and once
with it, from the same seed: the largest parameter difference of G and D, recompute against plain, printed beside the
plain runs' own run-to-run difference (a GPU's kernels need not be bit-reproducible). Usage: python tools/recompute_check.py [device]"""
import sys
from geo3d.step import TrainStep
from geo3d.config import TrainConfig
from geo3d.synthetic import embedded_dataset

device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
data = embedded_dataset(4, 64, progress=False)


def params(recompute):
    ts = TrainStep(TrainConfig(preset="tiny", batch=4, views=3, switch_kimg=0.0, auto_switch=False, kimg=10, recompute=recompute),
                   data, device=device)
    for _ in range(2): ts.train_step()
    return [p.detach().float().cpu() for p in [*ts.G.parameters(), *ts.D.parameters()]]


def diff(a, b): return max(((p - q).abs().max() / p.abs().max().clamp_min(1e-12)).item() for p, q in zip(a, b))


plain, again, rc = params(False), params(False), params(True)
noise, change = diff(plain, again), diff(plain, rc)
print(f"recompute_check on {device}: largest relative parameter difference after 2 steps: recompute vs plain {change:.2e}, "
      f"plain vs plain {noise:.2e}")
ok = change <= max(10 * noise, 1e-6)
print("ok" if ok else "FAILED: recompute changes training beyond the run-to-run noise")
sys.exit(0 if ok else 1)
