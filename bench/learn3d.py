"""Did a run learn 3D? The geometry scores of every checkpoint a run kept, against pass marks set halfway between the
truth and the negative controls of the geometry notebook (geo3d.geometry.geometry_thresholds), with the kimg and
training minutes of each checkpoint.

    geo3d_train --out runs/tiny --minutes 30 --keep_checkpoints 10 --snapshot_kimg 4    # (the README's command, longer)
    python bench/learn3d.py runs/tiny                                                  # scores of each kept checkpoint
    python bench/learn3d.py runs/tiny --json bench/results/learn3d_cpu.json            # ... written with provenance
    python bench/learn3d.py runs/tiny --picture objects.png                            # ... and what the scores see
    python bench/learn3d.py runs/probe --kimg 4,8 --objects 200                        # only the checkpoints nearest 4 and 8 kimg, and the last
    python bench/learn3d.py runs/tiny --bands                                          # ... and the last one's accuracy by camera elevation,
                                                                                       #     with what each class is read as (and the truth's)
    python bench/learn3d.py runs/tiny --average 4,8                                    # ... and the mean generator of the last 4 and 8 kimg

Only runs on the embedded synthetic set have geometry accuracy (its classifier knows the synthetic classes).
"""
import argparse
import json
import sys
import time
from pathlib import Path

from geo3d.ablation import misreadings        # what each class is mostly read as, for --bands

ROOT = Path(__file__).resolve().parent.parent


def checkpoint_minutes(run):
    "`{step: training minutes up to that step}` (geo3d.eval.training_progress)."
    from geo3d.eval import training_progress
    return {r["step"]: r["minutes"] for r in training_progress(run)}


def object_picture(G, clf, path, seed=3):
    """One object of each class as the geometry scores see it, saved to `path`. Rows: the render (whole field); the
    object's opacity (the box's interior at density >= the mesh level); its depth; the depth relief the classifier reads,
    titled with its answer; a true object's relief from the same camera."""
    import torch
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from geo3d import rng
    from geo3d.camera import sample_cameras, fov_to_intrinsics
    from geo3d.geometry import interior_field, depth_input, depth_views, truth_field, GEOMETRY_OPTS
    from geo3d.renderer import render, RenderOptions
    from geo3d.synthetic import CLASS_NAMES
    n, g = len(CLASS_NAMES), torch.Generator().manual_seed(seed)
    c, z = torch.arange(n), rng.randn(n, G.cfg.z_dim, generator=g)
    opts = RenderOptions(GEOMETRY_OPTS.n_coarse, GEOMETRY_OPTS.n_fine, 1.0, False)
    with torch.no_grad():
        field = G.field(G.synthesize_planes(G.map(z.to(G.device), c.to(G.device))))
        cams = sample_cameras(n, G.cfg.radius, G.cfg.fov, g)[0]
        K = fov_to_intrinsics(G.cfg.fov)
        whole, obj = render(field, cams, K, 32, opts), render(interior_field(field), cams, K, 32, opts)
        relief = depth_input(obj["depth"].float(), obj["opacity"].float())          # what depth_views gives, from this render
        answer = clf(relief).argmax(1)
        true = torch.cat([depth_views(truth_field(k, 1, torch.Generator().manual_seed(5)), 1, cams[k:k + 1], G.cfg.fov,
                                      radius=G.cfg.radius) for k in range(n)])
    fig, ax = plt.subplots(5, n, figsize=(1.25 * n, 6.6))
    for k in range(n):
        ax[0, k].imshow((whole["rgb"][k].permute(1, 2, 0) * 0.5 + 0.5).clamp(0, 1)); ax[0, k].set_title(CLASS_NAMES[k], fontsize=7)
        ax[1, k].imshow(obj["opacity"][k, 0], vmin=0, vmax=1)
        ax[2, k].imshow(obj["depth"][k, 0])
        ax[3, k].imshow(relief[k, 0], vmin=-1, vmax=1, cmap="RdBu")
        ax[3, k].set_title(f"-> {CLASS_NAMES[answer[k]]}", fontsize=7, color="green" if answer[k] == k else "red")
        ax[4, k].imshow(true[k, 0], vmin=-1, vmax=1, cmap="RdBu")
    for a, label in zip(ax[:, 0], ["render", "object opacity", "object depth", "relief: answer", "true relief"]):
        a.set_ylabel(label, fontsize=7)
    for a in ax.flat: a.set_xticks([]); a.set_yticks([])
    fig.tight_layout(); fig.savefig(path, dpi=70); plt.close(fig)


BANDS = dict(below=(-90, -30), photos=(-5, 35), above=(45, 90))   # camera elevations, degrees; the synthetic photos: -5..35


def band_accuracy(G, clf, n=200, seed=1):
    """Geometry accuracy of `n` generated objects (classes in turn) and of true objects of the same classes, seen from
    cameras in each elevation band of `BANDS` (azimuth uniform): `{band: dict(generated=, truth=, per_class=[...],
    truth_per_class=[...], read_as=[[...]], truth_read_as=[[...]])}`, where `read_as[k][j]` counts the objects of class k
    the classifier reads as class j. Says whether the shapes are right from the viewpoints the photos show and from those
    they never show, and which misreadings are the scorer's own (those its classifier makes on true shapes too)."""
    import math
    import torch
    from geo3d import rng
    from geo3d.camera import look_at, sphere_point
    from geo3d.geometry import interior_field, depth_views, batched_truth
    g = torch.Generator().manual_seed(seed)
    c = torch.arange(n) % G.cfg.n_classes
    z = rng.randn(n, G.cfg.z_dim, generator=g)
    out = {}
    with torch.no_grad():
        fake = interior_field(G.field(G.synthesize_planes(G.map(z.to(G.device), c.to(G.device)))))
        truth = interior_field(batched_truth(c, torch.Generator().manual_seed(seed + 6)))
        for band, (lo, hi) in BANDS.items():
            row = {}
            for who, field in (("generated", fake), ("truth", truth)):
                gen = torch.Generator().manual_seed(seed + 2)
                p = 0
                for _ in range(3):                                   # three views per object, as the geometry accuracy
                    el = torch.deg2rad(torch.empty(n).uniform_(lo, hi, generator=gen))
                    az = 2 * math.pi * torch.rand(n, generator=gen)
                    cams = look_at(sphere_point(az, math.pi / 2 - el, G.cfg.radius))
                    p = p + clf(depth_views(field, n, cams, G.cfg.fov, radius=G.cfg.radius)).softmax(1)
                read = p.argmax(1).cpu()
                right = (read == c).float()
                row[who] = round(right.mean().item(), 4)
                pre = "" if who == "generated" else "truth_"
                row[pre + "per_class"] = [round(right[c == k].mean().item(), 3) for k in range(G.cfg.n_classes)]
                row[pre + "read_as"] = torch.bincount(c * G.cfg.n_classes + read, minlength=G.cfg.n_classes ** 2).view(
                    G.cfg.n_classes, G.cfg.n_classes).tolist()
            out[band] = row
    return out


def averaged_generator(paths):
    "The generator whose weights are the mean of the checkpoints' (their EMA generators): a stand-in for a longer EMA."
    from geo3d.checkpoint import load_generator
    states = [load_generator(p).state_dict() for p in paths[:-1]]
    G = load_generator(paths[-1])                                  # the last one's generator takes the mean
    states.append(G.state_dict())
    G.load_state_dict({k: sum(s[k].double() for s in states).div(len(states)).to(v.dtype) if v.is_floating_point() else v
                       for k, v in states[-1].items()})
    return G


def run_batch(run, last):
    "The run's batch (one for all its checkpoints: a resumed run keeps it): the `last` checkpoint's, else config.json's, else 8."
    from geo3d.checkpoint import read_checkpoint
    batch = json.loads(read_checkpoint(last)[1].get("train_config", "{}")).get("batch")
    cfg = run / "config.json"
    if batch is None and cfg.exists(): batch = json.loads(cfg.read_text()).get("train", {}).get("batch")
    return batch or 8


def kimg_at(path, batch):
    "The kimg a checkpoint was saved at: its step x the run's batch."
    from geo3d.checkpoint import checkpoint_step
    return (checkpoint_step(path) or 0) * batch / 1000


def nearest_checkpoints(pairs, kimg, batch):
    "The kept checkpoints (sorted by step) nearest each of the comma-separated `kimg`, and the last one."
    try: want = [float(k) for k in kimg.split(",")]
    except ValueError: sys.exit(f"learn3d: --kimg takes numbers separated by commas, e.g. 4,8,16; got {kimg!r}")
    at = [kimg_at(p, batch) for p, _ in pairs]
    keep = {min(range(len(pairs)), key=lambda i: abs(at[i] - k)) for k in want} | {len(pairs) - 1}
    return [pairs[i] for i in sorted(keep)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a geo3d_train run folder (its kept checkpoints are scored)")
    ap.add_argument("--objects", type=int, default=100, help="generated objects per checkpoint")
    ap.add_argument("--kimg", default="", help="score only the kept checkpoints nearest these kimg (comma-separated) and the last")
    ap.add_argument("--json", default="", help="write the results here")
    ap.add_argument("--picture", default="", help="save what the scores see of the last checkpoint here (PNG)")
    ap.add_argument("--average", default="", help="also score the mean weights of the checkpoints of the last N kimg, for each "
                    "comma-separated N (what a longer EMA would give)")
    ap.add_argument("--bands", action="store_true", help="also the last checkpoint's geometry accuracy by camera elevation band, beside the truth's, and the classes each class is misread as")
    a = ap.parse_args(argv)
    from geo3d.checkpoint import candidates, checkpoint_step, load_generator
    from geo3d.geometry import geometry_metrics, train_depth_classifier, control_table, geometry_thresholds, passes
    from geo3d.synthetic import CLASS_NAMES
    run = Path(a.run)
    pairs = candidates(run) if run.is_dir() else []
    if not pairs: sys.exit(f"learn3d: no checkpoint in {run}: give a geo3d_train run folder")
    pairs = sorted(pairs, key=lambda p: checkpoint_step(p[0]) or -1)
    every = pairs
    try: spans = [float(k) for k in a.average.split(",") if k.strip()]
    except ValueError: sys.exit(f"learn3d: --average takes kimg spans separated by commas, e.g. 4,8; got {a.average!r}")
    batch = run_batch(run, pairs[-1][0])
    if a.kimg: pairs = nearest_checkpoints(pairs, a.kimg, batch)
    clf, held_out = train_depth_classifier(progress=True)
    bars = geometry_thresholds(control_table(clf))
    minutes = checkpoint_minutes(run)
    rows = []
    for path, _ in pairs:
        step = checkpoint_step(path)
        G = load_generator(path)
        if list(getattr(G, "class_names", [])) != CLASS_NAMES:
            sys.exit(f"learn3d: {path} was not trained on the embedded synthetic set: geometry accuracy needs its classes")
        t0 = time.time()
        s = geometry_metrics(G, n=a.objects, classifier=clf)
        kimg = kimg_at(path, batch)
        mins = minutes.get(step, max([m for k, m in minutes.items() if k <= step], default=0.0))
        row = dict(checkpoint=str(path), step=step, kimg=round(kimg, 3), train_minutes=round(mins, 1),
                   **{k: round(v, 4) for k, v in s.items()}, passes=passes(s, bars), seconds=round(time.time() - t0, 1))
        rows.append(row)
        print(f"step {step:6d}  {kimg:6.2f} kimg  {mins:5.1f} min  " + "  ".join(
            f"{k} {v:.3f}{'' if row['passes'].get(k, True) else ' (fails)'}" for k, v in s.items()), flush=True)
    print("pass marks: " + ", ".join(f"{k} {'>=' if up else '<='} {t:.3f}" for k, (t, up) in bars.items())
          + f" (geometry classifier's held-out accuracy on true shapes: {held_out:.2f})")
    averages, end = [], kimg_at(every[-1][0], batch)
    for span in spans:
        use = [p for p, _ in every if end - kimg_at(p, batch) <= span + 1e-9]
        s = geometry_metrics(averaged_generator(use), n=a.objects, classifier=clf)
        averages.append(dict(last_kimg=span, checkpoints=len(use), **{k: round(v, 4) for k, v in s.items()}))
        print(f"mean of the last {span:g} kimg ({len(use)} checkpoints): " + "  ".join(f"{k} {v:.3f}" for k, v in s.items()), flush=True)
    bands = None
    last = load_generator(pairs[-1][0]) if a.bands or a.picture else None          # one load for both
    if a.bands:
        bands = band_accuracy(last, clf, a.objects)
        print(f"geometry accuracy of the last checkpoint by camera elevation ({a.objects} objects; per class: {' '.join(CLASS_NAMES)})")
        for band, r in bands.items():
            lo, hi = BANDS[band]
            print(f"  {band:7s} {lo:4d}..{hi:3d} deg: generated {r['generated']:.3f}  truth {r['truth']:.3f}  "
                  f"per class {' '.join(f'{v:.2f}' for v in r['per_class'])}  (truth {' '.join(f'{v:.2f}' for v in r['truth_per_class'])})")
            print(f"          most read as: {misreadings(r['read_as'], CLASS_NAMES)}; truth: {misreadings(r['truth_read_as'], CLASS_NAMES)}")
    if a.picture:
        object_picture(last, clf, a.picture)
        print(f"learn3d: wrote {a.picture}")
    if a.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from ablation import git_commit, machine                      # the provenance helpers of the ablation runner
        cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
        from geo3d.geometry import SCORING
        report = dict(provenance=dict(run=str(run), commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M"), objects=a.objects,
                                      geometry=SCORING,
                                      machine=machine(),
                                      train=cfg.get("train"), generator=cfg.get("generator")),
                      thresholds={k: dict(threshold=round(t, 4), higher_is_better=up) for k, (t, up) in bars.items()},
                      classifier_held_out_accuracy=held_out, checkpoints=rows, **(dict(averages=averages) if averages else {}),
                      **(dict(bands=dict(elevations=BANDS, last_checkpoint=bands)) if bands else {}))
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"learn3d: wrote {a.json}")


if __name__ == "__main__":
    main()
