"""Renderer throughput: geo3d's renderer against a straightforward reference design, side by side in one run.

Workload (the project's reference workload, measured with EG3D's renderer too): batch 4, planes 3x32x256^2, render 64^2, 48 coarse + 48 fine samples per ray,
EG3D's decoder. The reference design is the usual way to write it: three grid_sample calls (one per plane),
then the coarse and fine passes' per-sample features concatenated, sorted and gathered before compositing with
midpoint-averaged features. geo3d samples the three planes in one call and merges/sorts only scalars.

Each measurement runs in a fresh child process (so peak memory is that variant's own), alternating variants
(A B A B ...) so that machine noise hits both. Prints points/s forward, forward+backward, peak RSS, and ratios.

    python bench/bench_renderer.py            # full anchor workload, 3 rounds
    python bench/bench_renderer.py --quick    # smaller, for a smoke test
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def reference_render(planes, decoder, o, d, n_coarse, n_fine, box=1.0):
    "The straightforward design: per-plane sampling, features concatenated, sorted and gathered."
    from geo3d.renderer import ray_box, stratified_samples, sample_pdf, interval_weights
    from geo3d.decoder import density_activation
    n, r = o.shape[:2]

    def field(pts):
        g = pts * (2 / box)
        feats = [F.grid_sample(planes[:, i], g[..., ax][:, None], align_corners=False)[:, :, 0].transpose(1, 2)
                 for i, ax in enumerate([[0, 1], [0, 2], [1, 2]])]
        return decoder(torch.stack(feats).sum(0))

    def query(t):
        raw, feat = field((o[..., None, :] + t[..., None] * d[..., None, :]).reshape(n, -1, 3))
        return raw.view(n, r, -1), feat.view(n, r, t.shape[-1], -1)

    near, far, _ = ray_box(o, d, box)
    t_c = stratified_samples(near, far, n_coarse)
    raw_c, feat_c = query(t_c)
    t_f = sample_pdf(t_c, interval_weights(t_c, raw_c), n_fine)
    raw_f, feat_f = query(t_f)
    t, order = torch.sort(torch.cat([t_c, t_f], -1), -1)
    raw = torch.cat([raw_c, raw_f], -1).gather(-1, order)
    feat = torch.cat([feat_c, feat_f], -2).gather(-2, order[..., None].expand(-1, -1, -1, feat_c.shape[-1]))
    sigma = density_activation(raw)
    delta = t[..., 1:] - t[..., :-1]
    alpha = 1 - torch.exp(-0.5 * (sigma[..., 1:] + sigma[..., :-1]) * delta)
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1 - alpha + 1e-10], -1), -1)[..., :-1]
    w = alpha * trans
    feats = (w[..., None] * 0.5 * (feat[..., 1:, :] + feat[..., :-1, :])).sum(-2)
    depth = (w * 0.5 * (t[..., 1:] + t[..., :-1])).sum(-1) / w.sum(-1).clamp_min(1e-10)
    return feats, depth, w.sum(-1)


def child(variant, mode, batch, res, plane_res, n_coarse, n_fine, reps):
    from geo3d.camera import sample_cameras, get_rays
    from geo3d.decoder import TriplaneDecoder, triplane_field
    from geo3d.renderer import render_rays, RenderOptions
    torch.manual_seed(0)
    planes = (torch.randn(batch, 3, 32, plane_res, plane_res) * 0.5).requires_grad_(mode == "fwd+bwd")
    decoder = TriplaneDecoder(extra_layers=0)
    c2w, K = sample_cameras(batch, generator=torch.Generator().manual_seed(0))
    o, d = get_rays(c2w, K, res)
    opts = RenderOptions(n_coarse=n_coarse, n_fine=n_fine)

    def step():
        with torch.set_grad_enabled(mode == "fwd+bwd"):
            if variant == "geo3d":
                feats, depth, op = render_rays(triplane_field(planes, decoder), o, d, opts)
            else:
                feats, depth, op = reference_render(planes, decoder, o, d, n_coarse, n_fine)
            if mode == "fwd+bwd":
                (feats.mean() + depth.mean() + op.mean()).backward()

    step()                                                      # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    points = batch * res * res * (n_coarse + n_fine)
    print(json.dumps(dict(seconds=min(times), points=points,
                          peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 2, planes 64^2, render 32^2")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per variant and mode")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    cfg = (2, 32, 64, 48, 48, 2) if a.quick else (4, 64, 256, 48, 48, 2)
    if a.child:
        return child(*a.child, *cfg)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {cfg[0]}, render {cfg[1]}^2, "
          f"planes 3x32x{cfg[2]}^2, {cfg[3]}+{cfg[4]} samples per ray")
    results = {}
    for mode in ("fwd", "fwd+bwd"):
        for _ in range(a.rounds):
            for variant in ("geo3d", "reference"):
                out = subprocess.run([sys.executable, __file__, "--child", variant, mode] + (["--quick"] if a.quick else []),
                                     capture_output=True, text=True, check=True)
                results.setdefault((variant, mode), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'mode':9s} {'variant':10s} {'points/s':>12s} {'s/render':>9s} {'peak RSS MB':>12s}")
    for mode in ("fwd", "fwd+bwd"):
        rate = {}
        for variant in ("geo3d", "reference"):
            rs = results[variant, mode]
            sec = statistics.median(r["seconds"] for r in rs)
            rate[variant] = rs[0]["points"] / sec
            print(f"{mode:9s} {variant:10s} {rate[variant]:12.3e} {sec:9.3f} {max(r['peak_mb'] for r in rs):12.0f}")
        print(f"{mode:9s} speed-up geo3d / reference: {rate['geo3d'] / rate['reference']:.2f}x")


if __name__ == "__main__":
    main()
