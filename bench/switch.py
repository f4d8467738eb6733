"""The automatic multi-view switch on a real collapse: two runs from the same seed, one single-view throughout and one
with the automatic switch (single-view until the colour-diversity indicator falls below `collapse_fraction` of its
peak, then K views), each checkpoint measured for the collapse the paper describes (samples of different classes
taking on one colour), and both scored with FID/KID at the end. Resumable like bench/ablation.py (same command again).

    python bench/switch.py --out runs/switch                     # CIFAR-10, EG3D's layout (it collapses fastest), 4 kimg
    python bench/switch.py --out runs/switch --recipe default --data synthetic
    python bench/switch.py --out runs/switch --dry_run           # what is done; writes the results of what is

Per checkpoint (every `--snapshot_kimg`), of the EMA generator, beside the real set's same numbers:
  colour diversity  what the switch watches: the spread of the images' mean colours within a batch of 8 (averaged over
                    64 batches here, where training sees one batch per step)
  class spread      the spread over classes of each class's average colour: falls when the classes take on one colour
Writes OUT/switch.json (and `--results F`) with provenance.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation import (TOY, CIFAR, git_commit, machine, prepare_cifar, trained_kimg, has_checkpoint, run_jobs, scored,  # noqa: E402
                      train_command, eval_command)

ARMS = {"single-view": ["--views", "1", "--auto_switch", "false"],
        "auto-switch": ["--views", "3", "--auto_switch", "true", "--switch_kimg", "-1"]}


def colour_stats(images, labels, n_classes, batch=8):
    "Colour diversity (mean over batches of `batch`) and class spread of images `(N, 3, H, W)` in [-1, 1] with labels."
    import torch
    from geo3d.loss import colour_diversity
    means = images.float().mean((-2, -1))
    div = sum(colour_diversity(means[i:i + batch]) for i in range(0, len(means) - batch + 1, batch)) / (len(means) // batch)
    per_class = torch.stack([means[labels == k].mean(0) for k in range(n_classes) if (labels == k).any()])
    return dict(colour_diversity=div, class_spread=per_class.std(0).mean().item())


def real_colour_stats(data, n=512, seed=0):
    import numpy as np
    import torch
    idx = np.sort(np.random.default_rng(seed).choice(len(data), min(n, len(data)), replace=False))
    x, c = data.batch(np.random.default_rng(seed + 1).permutation(idx), "cpu")
    return colour_stats(x, torch.as_tensor(c), data.n_classes)


def generated_colour_stats(G, n_classes, per_class=48, seed=0):
    "Colour statistics of `per_class` generated images of each class (classes interleaved, so batches mix them)."
    import torch
    from geo3d import rng
    g = torch.Generator().manual_seed(seed)
    c = torch.arange(n_classes).repeat(per_class)
    c = c[torch.randperm(len(c), generator=g)]
    out = []
    with torch.no_grad():
        for i in range(0, len(c), 32):
            b = c[i:i + 32]
            z = rng.randn(len(b), G.cfg.z_dim, generator=g)
            out.append(G(z, b, G.sample_cameras(len(b), generator=g))["image"].clamp(-1, 1))
    return colour_stats(torch.cat(out), c, n_classes)


def switched_at(run):
    "kimg at which a run switched to K views (from its stats lines), or None."
    stats = Path(run) / "stats.jsonl"
    for line in stats.read_text().splitlines() if stats.exists() else []:
        try: r = json.loads(line)
        except json.JSONDecodeError: continue
        if r.get("views", 1) > 1: return r["kimg"]
    return None


def trace(run):
    "The indicator's trace from the stats lines: kimg, this step's colour diversity, smoothed, peak, real batch's."
    rows = []
    for line in (Path(run) / "stats.jsonl").read_text().splitlines():
        try: r = json.loads(line)
        except json.JSONDecodeError: continue
        if "colour_diversity" in r:
            rows.append({k: r.get(k) for k in ("kimg", "views", "colour_diversity", "colour_diversity_smoothed",
                                               "colour_diversity_peak", "real_colour_diversity")})
    return rows


def measure(run, n_classes):
    "Colour statistics of every kept checkpoint of a run, oldest first."
    from geo3d.checkpoint import candidates, checkpoint_step, load_generator
    cfg = json.loads((Path(run) / "config.json").read_text())
    batch = cfg.get("train", cfg)["batch"]
    rows = []
    for path, _ in sorted(candidates(run), key=lambda p: checkpoint_step(p[0])):
        step = checkpoint_step(path)
        G = load_generator(path)
        rows.append(dict(step=step, kimg=step * batch / 1000, **generated_colour_stats(G, n_classes)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/switch", help="folder of the two runs and of switch.json")
    ap.add_argument("--recipe", default="ablation-eg3d", help="training recipe both runs start from (geo3d.config.RECIPES)")
    ap.add_argument("--data", default="cifar10", choices=["cifar10", "synthetic"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kimg", type=float, default=4.0, help="training budget of each run")
    ap.add_argument("--snapshot_kimg", type=float, default=0.5, help="checkpoint (and measurement) interval")
    ap.add_argument("--generator", default=json.dumps(TOY), help="generator fields on top of the tiny preset (JSON)")
    ap.add_argument("--samples", type=int, default=500, help="generated images for the final FID/KID")
    ap.add_argument("--cifar", default=str(CIFAR), help="CIFAR-10 JPEG archive or folder (class sub-folders)")
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side")
    ap.add_argument("--results", default="", help="also write the results JSON here (e.g. bench/results/switch_cpu.json)")
    ap.add_argument("--dry_run", action="store_true", help="print what is done, train nothing; write the results of what is")
    a = ap.parse_args(argv)
    try: generator = json.loads(a.generator)
    except json.JSONDecodeError as e: sys.exit(f"switch: --generator is not JSON ({e})")
    out = Path(a.out).resolve(); (out / "runs").mkdir(parents=True, exist_ok=True)
    from geo3d.generator import preset
    from geo3d.config import RECIPES
    if a.recipe not in RECIPES: sys.exit(f"switch: unknown recipe {a.recipe!r}; choose one of {sorted(RECIPES)}")
    res = preset("tiny", **generator).output_resolution
    data = "synthetic" if a.data == "synthetic" else str(prepare_cifar(out, a.cifar, res))
    keep = int(a.kimg / a.snapshot_kimg) + 2

    jobs = []
    for arm, flags in ARMS.items():
        run = out / "runs" / arm
        kimg, _ = trained_kimg(run)
        done = has_checkpoint(run) and kimg >= a.kimg - 1e-6
        print(f"switch: {arm:12s} {'scored' if scored(run, a.kimg) else 'trained' if done else f'at {kimg:.2f} kimg'}")
        train = train_command(run, a.recipe, data, a.seed, a.kimg, generator, a.snapshot_kimg)
        if not has_checkpoint(run): train += flags
        train += ["--keep_checkpoints", str(keep)]                      # every checkpoint is a point of the curve
        cmds = ([] if done else [train]) + ([] if scored(run, a.kimg) else [eval_command(run, a.samples, 0)])
        if cmds and not a.dry_run: jobs.append((arm, cmds, out / "runs" / f"{arm}.log"))
    failed = run_jobs(jobs, a.jobs, max(1, (os.cpu_count() or 1) // a.jobs), "switch") if jobs else []

    from geo3d.imageset import ImageSet
    from geo3d.synthetic import embedded_dataset
    real = embedded_dataset(300, res, progress=False) if a.data == "synthetic" else ImageSet.load(data)
    report = dict(provenance=dict(machine=machine(), commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M"),
                                  recipe=a.recipe, data=a.data, seed=a.seed, kimg_per_run=a.kimg,
                                  generator=dict(preset="tiny", **generator), arms=ARMS,
                                  command="python bench/switch.py " + " ".join(x for x in (argv if argv is not None else sys.argv[1:]) if x != "--dry_run")),
                  real=real_colour_stats(real), runs={})
    for arm in ARMS:
        run = out / "runs" / arm
        if not has_checkpoint(run): continue
        kimg, seconds = trained_kimg(run)
        entry = dict(kimg=kimg, train_minutes=round(seconds / 60, 2), switched_at_kimg=switched_at(run),
                     checkpoints=measure(run, real.n_classes), trace=trace(run))
        if scored(run, a.kimg):
            scores = next(iter(json.loads((run / "eval.json").read_text())["results"].values()))
            entry.update(fid=scores.get("fid"), kid=scores.get("kid"))
        report["runs"][arm] = entry
        print(f"switch: {arm:12s} {kimg:.2f} kimg, switched at {entry['switched_at_kimg']}, FID {entry.get('fid')}")
        for r in entry["checkpoints"]:
            print(f"    {r['kimg']:5.2f} kimg  colour diversity {r['colour_diversity']:.3f} (real {report['real']['colour_diversity']:.3f})"
                  f"  class spread {r['class_spread']:.3f} (real {report['real']['class_spread']:.3f})")
    for path in [out / "switch.json"] + ([Path(a.results)] if a.results else []):
        tmp = path.with_name(path.name + ".tmp"); tmp.write_text(json.dumps(report, indent=1) + "\n"); tmp.replace(path)
    print(f"switch: results in {out / 'switch.json'}" + (f" and {a.results}" if a.results else ""))
    if failed: sys.exit(f"switch: {failed} failed; fix and run the same command again")


if __name__ == "__main__":
    main()
