"""Generator speed and memory: forward and forward+backward of a preset, fp32 and bf16 autocast side by side in one run.

The backward pass starts from image.mean() + image_raw.mean(), the shape of a generator step without the discriminator.
Times are per image (per rendered view when --views > 1: the backbone runs once per latent, the renderer and
super-resolution once per view). On CUDA the peak memory is torch's max_memory_allocated for each measurement; on a
CPU each precision runs in its own child process and reports its peak RSS.

    python bench/bench_generator.py                                   # tiny, CPU, batch 4, fp32 and bf16
    python bench/bench_generator.py --preset imagenet256 --batch 4    # the paper's model (on a GPU if there is one)
    python bench/bench_generator.py --preset imagenet256 --batch 1 --device cpu --rounds 1 --precision fp32
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def measure(preset, batch, views, device, precision, rounds, tf32):
    from geo3d.generator import TriplaneGenerator
    torch.manual_seed(0)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    G = TriplaneGenerator(preset).to(device).train()
    z = G.sample_z(batch, torch.Generator().manual_seed(1))
    c = torch.randint(0, max(G.cfg.n_classes, 1), (batch,)) if G.cfg.n_classes else None
    cams = G.sample_cameras(batch, k=None if views == 1 else views, generator=torch.Generator().manual_seed(2))
    amp = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward(grad):
        with torch.set_grad_enabled(grad), amp:
            out = G(z, c, cams)
        if grad:
            (out["image"].float().mean() + out["image_raw"].float().mean()).backward()
        return out

    res = {}
    for mode in ("forward", "forward+backward"):
        grad = mode != "forward"
        forward(grad); G.zero_grad(set_to_none=True); sync()          # warm-up (allocator, cuDNN autotune)
        if device == "cuda": torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            forward(grad); sync()
            times.append(time.perf_counter() - t0)
            G.zero_grad(set_to_none=True)
        res[mode] = dict(s_per_image=statistics.median(times) / (batch * views),
                         peak_gb=torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None)
    if device != "cuda":
        res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--views", type=int, default=1, help="views rendered per latent (K)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", choices=["fp32", "bf16", "both"], default="both")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convolutions in the fp32 run (CUDA)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(measure(a.preset, a.batch, a.views, a.device, a.child, a.rounds, a.tf32)))
        return
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here; use --device cpu")
    precisions = ["fp32", "bf16"] if a.precision == "both" else [a.precision]
    results = {}
    for prec in precisions:                                # a child process each: separate peak memory, no shared state
        cmd = [sys.executable, __file__, "--child", prec] + [f"--{k}={v}" for k, v in
               dict(preset=a.preset, batch=a.batch, views=a.views, device=a.device, rounds=a.rounds).items()]
        if a.tf32: cmd.append("--tf32")
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode: sys.exit(f"{prec} run failed:\n{out.stderr[-3000:]}")
        results[prec] = json.loads(out.stdout.strip().splitlines()[-1])
    dev = torch.cuda.get_device_name() if a.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"preset {a.preset}, batch {a.batch}, {a.views} view(s) per latent, {dev}, median of {a.rounds}")
    print(f"{'':18s}" + "".join(f"{p:>24s}" for p in precisions))
    for mode in ("forward", "forward+backward"):
        cells = []
        for prec in precisions:
            r = results[prec][mode]
            mem = f", {r['peak_gb']:.2f} GB" if r["peak_gb"] is not None else ""
            cells.append(f"{r['s_per_image'] * 1e3:9.1f} ms/img{mem}")
        print(f"{mode:18s}" + "".join(f"{x:>24s}" for x in cells))
    if a.device != "cuda":
        print(f"{'peak RSS':18s}" + "".join(f"{results[p]['peak_rss_gb']:>21.2f} GB" for p in precisions))
    if len(precisions) == 2:
        for mode in ("forward", "forward+backward"):
            print(f"bf16 / fp32 time, {mode}: {results['bf16'][mode]['s_per_image'] / results['fp32'][mode]['s_per_image']:.2f}")


if __name__ == "__main__":
    main()
