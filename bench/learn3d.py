"""Did a run learn 3D? The geometry scores of every checkpoint a run kept, against pass marks set halfway between the
truth and the negative controls of the geometry notebook (geo3d.geometry.geometry_thresholds), with the kimg and
training minutes of each checkpoint.

    geo3d_train --out runs/tiny --minutes 30 --keep_checkpoints 10 --snapshot_kimg 4    # (the README's command, longer)
    python bench/learn3d.py runs/tiny                                                  # scores of each kept checkpoint
    python bench/learn3d.py runs/tiny --json bench/results/learn3d_cpu.json            # ... written with provenance

Only runs on the embedded synthetic set have geometry accuracy (its classifier knows the synthetic classes).
"""
import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkpoint_minutes(run):
    "`{step: training minutes up to that step}` (geo3d.eval.training_progress)."
    from geo3d.eval import training_progress
    return {r["step"]: r["minutes"] for r in training_progress(run)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a geo3d_train run folder (its kept checkpoints are scored)")
    ap.add_argument("--objects", type=int, default=100, help="generated objects per checkpoint")
    ap.add_argument("--json", default="", help="write the results here")
    a = ap.parse_args(argv)
    from geo3d.checkpoint import candidates, checkpoint_step, load_generator, read_checkpoint
    from geo3d.geometry import geometry_metrics, train_depth_classifier, control_table, geometry_thresholds, passes
    from geo3d.synthetic import CLASS_NAMES
    run = Path(a.run)
    pairs = candidates(run) if run.is_dir() else []
    if not pairs: sys.exit(f"learn3d: no checkpoint in {run}: give a geo3d_train run folder")
    clf, held_out = train_depth_classifier(progress=True)
    bars = geometry_thresholds(control_table(clf))
    minutes = checkpoint_minutes(run)
    rows = []
    for path, _ in sorted(pairs, key=lambda p: checkpoint_step(p[0]) or -1):
        step = checkpoint_step(path)
        G = load_generator(path)
        if list(getattr(G, "class_names", [])) != CLASS_NAMES:
            sys.exit(f"learn3d: {path} was not trained on the embedded synthetic set: geometry accuracy needs its classes")
        t0 = time.time()
        s = geometry_metrics(G, n=a.objects, classifier=clf)
        kimg = step * json.loads(read_checkpoint(path)[1].get("train_config", "{}")).get("batch", 8) / 1000
        mins = minutes.get(step, max([m for k, m in minutes.items() if k <= step], default=0.0))
        row = dict(checkpoint=str(path), step=step, kimg=round(kimg, 3), train_minutes=round(mins, 1),
                   **{k: round(v, 4) for k, v in s.items()}, passes=passes(s, bars), seconds=round(time.time() - t0, 1))
        rows.append(row)
        print(f"step {step:6d}  {kimg:6.2f} kimg  {mins:5.1f} min  " + "  ".join(
            f"{k} {v:.3f}{'' if row['passes'].get(k, True) else ' (fails)'}" for k, v in s.items()), flush=True)
    print("pass marks: " + ", ".join(f"{k} {'>=' if up else '<='} {t:.3f}" for k, (t, up) in bars.items())
          + f" (geometry classifier's held-out accuracy on true shapes: {held_out:.2f})")
    if a.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from ablation import git_commit, machine                      # the provenance helpers of the ablation runner
        cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
        report = dict(provenance=dict(run=str(run), commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M"), objects=a.objects,
                                      machine=machine(),
                                      train=cfg.get("train"), generator=cfg.get("generator")),
                      thresholds={k: dict(threshold=round(t, 4), higher_is_better=up) for k, (t, up) in bars.items()},
                      classifier_held_out_accuracy=held_out, checkpoints=rows)
        Path(a.json).write_text(json.dumps(report, indent=1) + "\n")
        print(f"learn3d: wrote {a.json}")


if __name__ == "__main__":
    main()
