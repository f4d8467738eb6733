"""The paper's ablation (Table 2) at toy scale: the four configurations x data sets x seeds, each trained for the same
budget (kimg), then scored with FID, KID and the geometry scores. Resumable: run the same command again after an
interruption and it picks up where it stopped (finished runs are kept, a run killed mid-way resumes from its last
checkpoint, a finished run's missing scores are computed, and a run scored before the geometry scores changed what
they look at (geo3d.geometry.SCORING) gets its geometry scores recomputed, FID/KID kept).

Rows (geo3d.config.ABLATION, the paper's Table 2 from top to bottom):
  ablation-eg3d       EG3D's layout (mean-aggregated triplane, 2-layer decoder, StyleGAN2 backbone), no camera
                      conditioning, single-view D
  ablation-decoder    + the deeper decoder (and summed planes)
  ablation-backbone   + the deeper backbone (the paper's extra blocks)
  ablation-multiview  + multi-view discrimination (K = 3 from the start)

    python bench/ablation.py --dry_run                          # the plan and what is done
    python bench/ablation.py --out runs/ablation --jobs 2       # run (or resume) everything, two runs side by side
    python bench/ablation.py --data synthetic --seeds 0         # a part of it
    python bench/ablation.py --score_only                       # score what has trained, start no training

Writes OUT/runs/<data>-<config>-s<seed>/ (a geo3d_train run folder, its eval.json) and OUT/ablation.json (every
run's scores with provenance: machine, commit, kimg, training minutes, seed). `--results F` copies it elsewhere too.
Training runs as child processes of this script: stop it and they stop; nothing keeps running after a session.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from geo3d.ablation import SCORES, TOY, summarise, format_table
from geo3d.config import ABLATION
from geo3d.geometry import SCORING

ROOT = Path(__file__).resolve().parent.parent
CIFAR = ROOT.parent / "shared" / "data" / "cifar10_test_jpeg.tar.gz"


def git_commit():
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return "unknown"


def machine():
    import torch
    return dict(platform=platform.platform(), processor=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                python=platform.python_version(), torch=torch.__version__, device="cpu")


def prepare_cifar(out, source, resolution):
    "The CIFAR-10 image set at `resolution` in OUT/data (built once from the JPEG archive or folder)."
    from geo3d.dataset_tool import build_dataset
    from geo3d.imageset import ImageSet
    dest = out / "data" / f"cifar10-{resolution}"
    if (dest / "dataset.json").exists(): return dest
    source = Path(source)
    if not source.exists():
        sys.exit(f"ablation: CIFAR-10 not found at {source}: give --cifar PATH (the cifar10_test_jpeg.tar.gz archive or its "
                 f"unpacked folder with <class>/<image> sub-folders), or leave cifar10 out with --data synthetic")
    if source.is_file():
        unpacked = out / "data" / "cifar10-jpeg"
        if not unpacked.exists():
            tmp = unpacked.with_name(unpacked.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            with tarfile.open(source) as t: t.extractall(tmp, filter="data")
            tmp.rename(unpacked)
        source = unpacked
    tops = [p for p in source.iterdir() if p.is_dir()]
    if len(tops) == 1 and all(q.is_dir() for q in tops[0].iterdir()): source = tops[0]   # test/<class>/...
    print(f"ablation: building the CIFAR-10 image set from {source} at {resolution}px")
    build_dataset(source, dest, resolution=resolution, progress=True)
    ImageSet.load(dest)
    return dest


def trained_kimg(run):
    "kimg and training seconds of a run folder from its stats (0, 0 when it has none)."
    from geo3d.eval import training_progress
    rows = training_progress(run)
    return (rows[-1]["kimg"], rows[-1]["minutes"] * 60) if rows else (0.0, 0.0)


def has_checkpoint(run):
    from geo3d.checkpoint import candidates
    return run.is_dir() and bool(candidates(run))


def train_command(run, config, data, seed, kimg, generator, snapshot_kimg):
    py = [sys.executable, "-m", "geo3d.train", "--quiet"]
    if has_checkpoint(run): return py + ["--resume", str(run), "--kimg", str(kimg)]
    flags = [f"--{k}={v}" for k, v in generator.items()]
    return py + ["--out", str(run), "--overwrite", "--recipe", config, "--data", data, "--seed", str(seed),
                 "--kimg", str(kimg), "--snapshot_kimg", str(snapshot_kimg), "--log_every", "25"] + flags


def eval_command(run, samples, geometry_samples):
    args = dict(checkpoint=[str(run)], samples=samples, geometry_samples=geometry_samples, out=str(run / "eval.json"), quiet=True)
    return [sys.executable, "-c", "import sys, json; from geo3d.eval import main; main(**json.loads(sys.argv[1]))", json.dumps(args)]


def _die_with_parent():
    "In a child: receive SIGTERM when this script dies, however it dies (Linux; elsewhere Ctrl-C reaches the group)."
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)                        # PR_SET_PDEATHSIG
    except Exception:
        pass


def run_jobs(jobs, parallel, threads, label="ablation"):
    """Run jobs `[(name, [argv, ...], log)]`, `parallel` at a time, each job's commands one after the other (a run's
    training, then its scoring); each child gets `threads` threads. Ctrl-C stops them all."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    def stop(signum, frame): raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)                                    # a kill stops the children too
    signal.signal(signal.SIGINT, stop)                                     # also when started with SIGINT ignored (`&`)
    pending, running, failed = [(n, list(cmds), log) for n, cmds, log in jobs], [], []
    def start(name, cmds, log):
        while cmds and callable(cmds[0]):                                 # a check between commands: None or why not
            why = cmds.pop(0)()
            if why: raise RuntimeError(why)
        if not cmds: return None
        f = open(log, "a")
        return [name, cmds, log, f, subprocess.Popen(cmds.pop(0), stdout=f, stderr=subprocess.STDOUT, env=env,
                                                     preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)]
    def next_step(name, cmds, log):
        try:
            item = start(name, cmds, log)
            if item: running.append(item)
            else: print(f"{label}: {name} done", flush=True)
        except RuntimeError as e:
            failed.append(name); print(f"{label}: {name}: {e}", flush=True)
    try:
        while pending or running:
            while pending and len(running) < parallel:
                name, cmds, log = pending.pop(0)
                print(f"{label}: start {name}", flush=True)
                next_step(name, cmds, log)
            time.sleep(2)
            for item in list(running):
                name, cmds, log, f, p = item
                if p.poll() is None: continue
                running.remove(item); f.close()
                if p.returncode: failed.append(name); print(f"{label}: {name} failed (exit {p.returncode}); see {log}", flush=True)
                elif cmds: next_step(name, cmds, log)
                else: print(f"{label}: {name} done", flush=True)
    except KeyboardInterrupt:
        for *_, p in running: p.terminate()
        for *_, f, p in running: p.wait(); f.close()
        sys.exit(f"{label}: interrupted; run the same command again to resume")
    return failed


def scored(run, kimg):
    "Whether a run folder has trained for `kimg` and its eval.json is newer than its checkpoint."
    ev = run / "eval.json"
    return (has_checkpoint(run) and trained_kimg(run)[0] >= kimg - 1e-6 and ev.exists()
            and ev.stat().st_mtime >= (run / "checkpoint.safetensors").stat().st_mtime)


def geometry_current(run):
    "Whether a scored run's geometry scores looked at what geo3d.geometry looks at now (its SCORING: wall shell, level)."
    try: return json.loads((run / "eval.json").read_text()).get("geometry") == SCORING
    except (OSError, json.JSONDecodeError): return False


def rescore_geometry(run, geometry_samples):
    "Recompute only the geometry scores of a scored run (as geo3d_eval does) into its eval.json; FID/KID are kept."
    from geo3d.checkpoint import load_generator
    from geo3d.eval import eval_data
    from geo3d.geometry import geometry_metrics
    run = Path(run); path = run / "eval.json"
    ev = json.loads(path.read_text())
    G, data = load_generator(run), eval_data(run)
    class_p = data.class_counts() / len(data) if data.n_classes == G.cfg.n_classes else None
    t0 = time.time()
    scores = geometry_metrics(G, geometry_samples, 16, ev.get("seed", 0), ev.get("psi", 1.0), class_p)
    for r in ev["results"].values(): r.update(scores, seconds_geometry=round(time.time() - t0, 1))
    ev["geometry"] = SCORING
    tmp = path.with_name(path.name + ".tmp"); tmp.write_text(json.dumps(ev, indent=1)); tmp.replace(path)
    print(f"ablation: geometry of {run.name} rescored: {scores}")


def rescore_command(run, geometry_samples):
    code = "import sys; sys.path.insert(0, sys.argv[1]); from ablation import rescore_geometry; rescore_geometry(sys.argv[2], int(sys.argv[3]))"
    return [sys.executable, "-c", code, str(Path(__file__).resolve().parent), str(run), str(geometry_samples)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/ablation", help="folder of the runs and of ablation.json")
    ap.add_argument("--configs", default=",".join(ABLATION), help="comma-separated ablation recipes")
    ap.add_argument("--data", default="synthetic,cifar10", help="comma-separated: synthetic, cifar10")
    ap.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    ap.add_argument("--kimg", type=float, default=4.0, help="training budget of every run, thousands of real images")
    ap.add_argument("--generator", default=json.dumps(TOY), help="generator fields on top of the tiny preset (JSON)")
    ap.add_argument("--samples", type=int, default=1000, help="generated images for FID/KID")
    ap.add_argument("--geometry_samples", type=int, default=100, help="generated objects for the geometry scores")
    ap.add_argument("--cifar", default=str(CIFAR), help="CIFAR-10 JPEG archive or folder (class sub-folders)")
    ap.add_argument("--jobs", type=int, default=1, help="runs side by side (the CPU's threads are shared out)")
    ap.add_argument("--results", default="", help="also write the results JSON here (e.g. bench/results/ablation_cpu.json)")
    ap.add_argument("--dry_run", action="store_true", help="print the plan and what is done, run nothing")
    ap.add_argument("--score_only", action="store_true", help="only score (or rescore) runs that finished training; train nothing")
    a = ap.parse_args(argv)
    configs, datasets = a.configs.split(","), a.data.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    bad = [c for c in configs if c not in ABLATION] + [d for d in datasets if d not in ("synthetic", "cifar10")]
    if bad: sys.exit(f"ablation: unknown {bad}; configurations are {ABLATION}, data sets synthetic and cifar10")
    try: generator = json.loads(a.generator)
    except json.JSONDecodeError as e: sys.exit(f"ablation: --generator is not JSON ({e})")
    out = Path(a.out).resolve(); (out / "runs").mkdir(parents=True, exist_ok=True)
    from geo3d.generator import preset
    res = preset("tiny", **generator).output_resolution
    data_arg = {"synthetic": "synthetic"}
    if "cifar10" in datasets and not a.dry_run: data_arg["cifar10"] = str(prepare_cifar(out, a.cifar, res).resolve())

    plan = [(d, c, s) for d in datasets for s in seeds for c in configs]
    name = lambda d, c, s: f"{d}-{c}-s{s}"
    jobs = []
    for d, c, s in plan:
        run, n = out / "runs" / name(d, c, s), name(d, c, s)
        kimg, _ = trained_kimg(run)
        done_training = has_checkpoint(run) and kimg >= a.kimg - 1e-6
        state = ("scored" if geometry_current(run) else "scored (old geometry scoring)") if scored(run, a.kimg) else \
            "trained" if done_training else f"at {kimg:.2f} kimg" if has_checkpoint(run) else "new"
        print(f"ablation: {n:40s} {state}")
        def reached(run=run):                                               # a training stopped by a signal exits 0
            got = trained_kimg(run)[0]
            return None if got >= a.kimg - 1e-6 else f"training stopped at {got:.2f} of {a.kimg} kimg; run again to resume"
        cmds = ([] if done_training else [train_command(run, c, data_arg.get(d, d), s, a.kimg, generator, a.kimg / 4), reached]) \
            + ([] if state == "scored" else [rescore_command(run, a.geometry_samples)] if state.startswith("scored") else
               [eval_command(run, a.samples, a.geometry_samples)])
        if cmds and not (a.score_only and not done_training): jobs.append((n, cmds, out / "runs" / f"{n}.log"))
    failed = [] if a.dry_run else run_jobs(jobs, a.jobs, max(1, (os.cpu_count() or 1) // a.jobs))

    rows = []
    for d, c, s in plan:
        run = out / "runs" / name(d, c, s)
        if not (scored(run, a.kimg) and geometry_current(run)): continue
        ev = json.loads((run / "eval.json").read_text())
        scores = next(iter(ev["results"].values()))
        kimg, seconds = trained_kimg(run)
        rows.append(dict(config=c, data=d, seed=s, kimg=kimg, train_minutes=round(seconds / 60, 2),
                         **{k: scores.get(k) for k in SCORES}, eval_samples=ev.get("samples")))
    report = dict(provenance=dict(machine=machine(), commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M"),
                                  kimg_per_run=a.kimg, generator=dict(preset="tiny", **generator),
                                  eval=dict(samples=a.samples, geometry_samples=a.geometry_samples, psi=1.0, seed=0,
                                            geometry=SCORING),
                                  command="python bench/ablation.py " + " ".join(x for x in (argv if argv is not None else sys.argv[1:]) if x != "--dry_run")),
                  runs=rows, table=summarise(rows))
    for path in [out / "ablation.json"] + ([Path(a.results)] if a.results else []):
        tmp = path.with_name(path.name + ".tmp"); tmp.write_text(json.dumps(report, indent=1) + "\n"); tmp.replace(path)
    print("\n" + format_table(report["table"]))
    print(f"\nablation: {len(rows)} of {len(plan)} runs scored; results in {out / 'ablation.json'}"
          + (f" and {a.results}" if a.results else ""))
    if failed: sys.exit(f"ablation: {len(failed)} job(s) failed: {failed}; fix and run the same command again")


if __name__ == "__main__":
    main()
