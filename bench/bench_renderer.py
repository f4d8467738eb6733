"""Renderer throughput and memory: geo3d's renderer beside a straightforward reference design and, when a snapshot of
EG3D is given, EG3D's own renderer, on identical inputs, in one run.

Workload (the project's anchor): batch 4, planes 3x32x256^2, render 64^2, 48 coarse + 48 fine samples per ray,
EG3D's decoder layout (32 -> 64 -> 1 + 32, softplus, features averaged over the planes). Every variant gets the same
planes, the same rays and the same decoder weights.
- `geo3d`: `geo3d.renderer.render_rays` on `geo3d.decoder.triplane_field` (the fused field on a CPU).
- `reference`: the usual way to write it, kept here so the comparison runs without EG3D: three grid_sample calls,
  per-sample features concatenated, sorted and gathered, composited with midpoint-averaged features.
- `eg3d` (with `--eg3d PATH`): EG3D's `ImportanceRenderer` and `OSGDecoder`, imported from a snapshot that you fetch
  yourself (`git clone https://github.com/NVlabs/eg3d`); none of its code is in this repository.
- `before` (with `--before DIR`): geo3d imported from another checkout, e.g. `git worktree add /tmp/before <commit>`,
  for before/after figures in the same run.

Each measurement runs in a fresh child process (so peak memory is that variant's own), variants alternating
(A B C A B C ...) so that machine noise hits all. Prints points/s forward and forward+backward, peak RSS, and the
ratios against the reference, EG3D and the earlier checkout.

    python bench/bench_renderer.py                          # geo3d and the reference design, 3 rounds
    python bench/bench_renderer.py --eg3d ~/src/eg3d        # ... and EG3D's renderer
    python bench/bench_renderer.py --quick                  # smaller, for a smoke test
"""
import argparse
import json
import os
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
        return decoder(torch.stack(feats).mean(0))            # EG3D's layout: the mean of the planes

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


def eg3d_modules(path):
    "EG3D's ImportanceRenderer and OSGDecoder from a snapshot at `path` (the repository or its eg3d/ folder)."
    root = path if os.path.isdir(os.path.join(path, "training")) else os.path.join(path, "eg3d")
    if not os.path.isfile(os.path.join(root, "training", "volumetric_rendering", "renderer.py")):
        raise SystemExit(f"--eg3d {path}: no EG3D snapshot there (expected eg3d/training/volumetric_rendering/renderer.py)")
    sys.path.insert(0, root)
    from training.volumetric_rendering.renderer import ImportanceRenderer
    from training.triplane import OSGDecoder
    return ImportanceRenderer, OSGDecoder


def eg3d_decoder(OSGDecoder, ours):
    "EG3D's decoder holding the weights of `ours` (its layers multiply by weight_gain = 1/sqrt(fan_in) when run)."
    dec = OSGDecoder(32, {"decoder_lr_mul": 1, "decoder_output_dim": 32})
    with torch.no_grad():
        for theirs, mine in zip([dec.net[0], dec.net[2]], [ours.hidden[0], ours.out]):
            theirs.weight.copy_(mine.weight / theirs.weight_gain); theirs.bias.copy_(mine.bias / theirs.bias_gain)
    return dec


def child(variant, mode, eg3d, batch, res, plane_res, n_coarse, n_fine, reps):
    from geo3d.camera import sample_cameras, get_rays
    from geo3d.decoder import TriplaneDecoder, triplane_field
    from geo3d.renderer import render_rays, RenderOptions
    torch.manual_seed(0)
    planes = (torch.randn(batch, 3, 32, plane_res, plane_res) * 0.5).requires_grad_(mode == "fwd+bwd")
    decoder = TriplaneDecoder(extra_layers=0)
    c2w, K = sample_cameras(batch, generator=torch.Generator().manual_seed(0))
    o, d = get_rays(c2w, K, res)
    opts = RenderOptions(n_coarse=n_coarse, n_fine=n_fine)
    if variant == "eg3d":
        ImportanceRenderer, OSGDecoder = eg3d_modules(eg3d)
        renderer, eg_dec = ImportanceRenderer(), eg3d_decoder(OSGDecoder, decoder)
        options = dict(ray_start="auto", ray_end="auto", box_warp=1.0, depth_resolution=n_coarse,
                       depth_resolution_importance=n_fine, disparity_space_sampling=False, clamp_mode="softplus")

    def render():
        if variant == "eg3d":
            rgb, depth, weight = renderer(planes, eg_dec, o, d, options)
            return (rgb + 1) / 2, depth[..., 0], weight[..., 0]
        if variant == "reference":
            return reference_render(planes, decoder, o, d, n_coarse, n_fine)
        return render_rays(triplane_field(planes, decoder, aggregate="mean"), o, d, opts)

    def step():
        with torch.set_grad_enabled(mode == "fwd+bwd"):
            feats, depth, op = render()
            if mode == "fwd+bwd":
                (feats.mean() + depth.mean() + op.mean()).backward()
        return feats.detach()

    feats = step()                                              # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    points = batch * res * res * (n_coarse + n_fine)
    print(json.dumps(dict(seconds=min(times), points=points, image_mean=feats.mean().item(),
                          peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 2, planes 64^2, render 32^2")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per variant and mode")
    ap.add_argument("--eg3d", metavar="PATH", help="a snapshot of NVlabs/eg3d: time its renderer too")
    ap.add_argument("--before", metavar="DIR", help="another geo3d checkout: time its renderer as 'before'")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    cfg = (2, 32, 64, 48, 48, 2) if a.quick else (4, 64, 256, 48, 48, 2)
    if a.child:
        return child(*a.child, a.eg3d, *cfg)
    variants = {"geo3d": None, "reference": None}
    if a.before:
        if not os.path.isfile(os.path.join(a.before, "geo3d", "renderer.py")):
            raise SystemExit(f"--before {a.before}: not a geo3d checkout (no geo3d/renderer.py)")
        variants["before"] = os.path.abspath(a.before)
    if a.eg3d:
        eg3d_modules(a.eg3d)                                    # fail now, not in a child
        variants["eg3d"] = None
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; batch {cfg[0]}, render {cfg[1]}^2, "
          f"planes 3x32x{cfg[2]}^2, {cfg[3]}+{cfg[4]} samples per ray; {a.rounds} rounds")
    results = {}
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for mode in ("fwd", "fwd+bwd"):
        for _ in range(a.rounds):
            for variant, tree in variants.items():
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree or here, os.environ.get("PYTHONPATH", "")]))
                cmd = [sys.executable, os.path.abspath(__file__), "--child", "geo3d" if variant == "before" else variant, mode]
                cmd += (["--quick"] if a.quick else []) + (["--eg3d", a.eg3d] if a.eg3d else [])
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree or here)
                if out.returncode:
                    raise SystemExit(f"{variant} {mode} failed:\n{out.stderr[-3000:]}")
                results.setdefault((variant, mode), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'mode':9s} {'variant':10s} {'points/s':>12s} {'s/render':>9s} {'peak RSS MB':>12s} {'mean feature':>13s}")
    table = {}
    for mode in ("fwd", "fwd+bwd"):
        for variant in variants:
            rs = results[variant, mode]
            sec = statistics.median(r["seconds"] for r in rs)
            table[variant, mode] = dict(points_per_s=rs[0]["points"] / sec, seconds=sec, peak_mb=max(r["peak_mb"] for r in rs),
                                        image_mean=rs[0]["image_mean"])
            t = table[variant, mode]
            print(f"{mode:9s} {variant:10s} {t['points_per_s']:12.3e} {sec:9.3f} {t['peak_mb']:12.0f} {t['image_mean']:13.4f}")
    for other in [v for v in variants if v != "geo3d"]:
        for mode in ("fwd", "fwd+bwd"):
            g, o = table["geo3d", mode], table[other, mode]
            print(f"geo3d / {other:9s} {mode:8s}: speed {g['points_per_s'] / o['points_per_s']:.2f}x, "
                  f"peak memory {g['peak_mb'] / o['peak_mb']:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(torch=torch.__version__, threads=torch.get_num_threads(), workload=cfg, rounds=a.rounds,
                           results={f"{v} {m}": t for (v, m), t in table.items()}), f, indent=1)


if __name__ == "__main__":
    main()
