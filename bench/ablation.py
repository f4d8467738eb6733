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
    python bench/ablation.py --base laptop                      # every configuration on the laptop recipe's settings

On a GPU machine without the Inception weights (the lent device machine: 16 toy runs share one GPU, each stopped by a
time limit, all compared at the largest checkpoint step every run kept; FID/KID then computed where the weights are):

    python bench/ablation.py --out W --device cuda --batch 32 --jobs 16 --kimg 100 --minutes 3.3 --snapshot_kimg 1.6 --train_only
    python bench/ablation.py --out W --device cuda --pack W/pack --data synthetic --configs ablation-eg3d --seeds 0   # one per run, side by side
    python bench/ablation.py --out W --unpack W/pack --results bench/results/ablation_gpu.json                        # back here

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
import time
from pathlib import Path

from geo3d.ablation import SCORES, summarise, format_table
from geo3d.config import ABLATION, TOY
from geo3d.geometry import SCORING

ROOT = Path(__file__).resolve().parent.parent
CIFAR = ROOT.parent / "shared" / "data" / "cifar10_test_jpeg.tar.gz"


def git_commit():
    if os.environ.get("GEO3D_COMMIT"): return os.environ["GEO3D_COMMIT"]   # set by tools/gpu_session: a device copy's .git may be stale
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:                                                      # a copy without .git (a device machine)
        return os.environ.get("GEO3D_COMMIT", "unknown")


def cpu_model(cpuinfo="/proc/cpuinfo"):
    "The CPU's model name (Linux's cpuinfo; else what platform knows): machines of one class differ in speed and numerics."
    try: fields = dict(line.split(":", 1) for line in Path(cpuinfo).read_text().splitlines() if ":" in line)
    except OSError: return platform.processor() or platform.machine()
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    name = fields.get("model name", platform.processor() or platform.machine())
    return f"{name} (family {fields['cpu family']}, model {fields['model']})" if "cpu family" in fields and "model" in fields else name


def machine(device="auto"):
    import torch
    try: from geo3d.step import cpu_bf16_native
    except ImportError: cpu_bf16_native = lambda: None                    # a bare device machine: not known
    cuda = device != "cpu" and torch.cuda.is_available()
    return dict(platform=platform.platform(), processor=platform.processor() or platform.machine(), cpu_model=cpu_model(),
                cpu_bf16=cpu_bf16_native(), cpus=os.cpu_count(), python=platform.python_version(), torch=torch.__version__,
                device=torch.cuda.get_device_name() if cuda else "cpu")


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
    print(f"ablation: building the CIFAR-10 image set from {source} at {resolution}px")
    build_dataset(source, dest, resolution=resolution, progress=True)   # the archive (unpacked to a temporary folder) or its folder
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


def train_command(run, config, data, seed, kimg, generator, snapshot_kimg, device="auto", batch=8, minutes=0.0, train=None):
    py = [sys.executable, "-m", "geo3d.train", "--quiet", "--device", device] + (["--minutes", str(minutes)] if minutes else [])
    if has_checkpoint(run): return py + ["--resume", str(run), "--kimg", str(kimg)]
    flags = [f"--{k}={v}" for k, v in {**generator, **(train or {})}.items()]
    return py + ["--out", str(run), "--overwrite", "--recipe", config, "--data", data, "--seed", str(seed),
                 "--kimg", str(kimg), "--batch", str(batch), "--snapshot_kimg", str(snapshot_kimg), "--log_every", "25",
                 "--keep_checkpoints", "100"] + flags


def eval_command(run, samples, geometry_samples, device="auto"):
    args = dict(checkpoint=[str(run)], samples=samples, geometry_samples=geometry_samples, out=str(run / "eval.json"),
                device=device, quiet=True)
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


TIME_LIMIT = "time_limit.json"     # written into a run folder whose training ended at its --minutes limit


def finished(run, kimg, minutes=0.0):
    """Whether a run folder's training is done: it reached `kimg`, or (with a `minutes` limit) its training ended at
    that limit (the TIME_LIMIT file). Such a run is finished, not failed: its table row says the kimg it reached."""
    return has_checkpoint(run) and (trained_kimg(run)[0] >= kimg - 1e-6 or bool(minutes) and (run / TIME_LIMIT).exists())


def scored(run, kimg, minutes=0.0):
    "Whether a run folder has finished training (`finished`) and its eval.json is newer than its checkpoint."
    ev = run / "eval.json"
    return (finished(run, kimg, minutes) and ev.exists()
            and ev.stat().st_mtime >= (run / "checkpoint.safetensors").stat().st_mtime)


def geometry_current(run):
    "Whether a scored run's geometry scores looked at what geo3d.geometry looks at now (its SCORING: wall shell, level, classifier)."
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


def table_row(config, data, seed, kimg, minutes, scores, samples):
    "One run's row of the results table."
    return dict(config=config, data=data, seed=seed, kimg=kimg, train_minutes=minutes, **{k: scores.get(k) for k in SCORES},
                kid_se=scores.get("kid_se"), eval_samples=samples)


def shared_step(runs):
    "The largest training step at which every run folder kept a checkpoint (runs a time limit stopped at different points)."
    from geo3d.checkpoint import candidates, checkpoint_step
    kept = {r.name: {checkpoint_step(ck) for ck, _ in candidates(r)} - {None} for r in runs}
    while kept and not set.intersection(*kept.values()):                # leave out the run that got least far
        short = min(kept, key=lambda n: max(kept[n], default=-1))
        print(f"ablation: {short} kept no step that all others kept (its last: {max(kept[short], default=None)}); "
              f"compared without it", flush=True)
        del kept[short]
    if not kept: raise SystemExit(f"ablation: none of {[r.name for r in runs]} kept a checkpoint")
    return max(set.intersection(*kept.values()))


def pack(out, dest, names, samples, geometry_samples, device):
    """Score what needs no Inception where the runs trained (a GPU machine, where the Inception weights may be missing).
    Every run of OUT/runs is compared at one step, the largest that all of them kept (the paper compares configurations
    at equal kimg); for each of `names`, its geometry scores and `samples` generated images (uint8; the same draws as
    geo3d_eval's) go into `dest` as <run>.json and <run>.npz, with its snapshot nearest that step. `unpack` adds FID/KID
    elsewhere. Several `pack`s of different runs may write into one `dest` side by side."""
    import numpy as np
    import torch
    from geo3d.checkpoint import candidates, checkpoint_step, load_generator
    from geo3d.eval import eval_data, training_progress
    from geo3d.geometry import geometry_metrics
    from geo3d.metrics import generated_images
    step = shared_step([r for r in sorted((out / "runs").iterdir()) if has_checkpoint(r)])
    dest.mkdir(parents=True, exist_ok=True)
    for run in [out / "runs" / n for n in names if has_checkpoint(out / "runs" / n)]:
        ck = next((c for c, _ in candidates(run) if checkpoint_step(c) == step), None)
        if ck is None:
            print(f"ablation: {run.name} has no checkpoint at step {step}: not packed", flush=True); continue
        train = json.loads((run / "config.json").read_text())["train"]
        G, data = load_generator(ck, device=device), eval_data(run)
        class_p = data.class_counts() / len(data) if data.n_classes == G.cfg.n_classes else None
        t0 = time.time()
        images = torch.cat([x.cpu() for x in generated_images(G, samples, 32, 0, 1.0, class_p)]).numpy()
        try:
            geo = geometry_metrics(G, geometry_samples, 16, 0, 1.0, class_p)
        except RuntimeError as e:                                          # the geometry scores' own device handling
            if G.device.type == "cpu": raise
            print(f"ablation: geometry scores on {G.device} failed ({str(e)[:300]}); scoring on the CPU", flush=True)
            geo = geometry_metrics(load_generator(ck, device="cpu"), geometry_samples, 16, 0, 1.0, class_p)
        minutes = max([r["minutes"] for r in training_progress(run) if r["step"] <= step], default=0.0)
        snaps = sorted((run / "snapshots").glob("kimg*.png"))
        near = min(snaps, key=lambda p: abs(int(p.stem[4:]) - step * train["batch"])) if snaps else None   # kimgNNNNNN: images seen
        if near: shutil.copy(near, dest / f"{run.name}.png")
        np.savez_compressed(dest / f"{run.name}.npz", images=images)
        row = dict(run=run.name, data="synthetic" if train.get("data", "synthetic") == "synthetic" else "cifar10",
                   synthetic_per_class=train.get("synthetic_per_class", 300), resolution=G.cfg.output_resolution,
                   step=step, kimg=round(step * train["batch"] / 1000, 3), batch=train["batch"], train_minutes=round(minutes, 2),
                   seconds=round(time.time() - t0, 1), samples=samples, geometry_samples=geometry_samples, geometry=SCORING,
                   machine=machine(device), commit=git_commit(), train_config=train, **geo)
        (dest / f"{run.name}.json").write_text(json.dumps(row, indent=1))
        print(f"ablation: packed {run.name} at step {step} ({row['kimg']} kimg, {row['seconds']} s): {geo}", flush=True)


def unpack(src, out, cifar):
    """FID and KID of the images `pack` wrote (against the real sets geo3d_eval uses), with the packed geometry scores:
    rows for the results table."""
    import numpy as np
    import torch
    from geo3d.imageset import ImageSet
    from geo3d.metrics import Inception, fid_kid, inception_features, real_features
    from geo3d.synthetic import embedded_dataset
    packed = [json.loads(p.read_text()) for p in sorted(src.glob("*.json"))]
    if not packed: raise SystemExit(f"ablation: nothing packed in {src}")
    net, rows, reals = Inception(), [], {}
    for r in packed:
        key = (r["data"], r["resolution"], r["synthetic_per_class"], r["samples"])
        if key not in reals:
            data = (embedded_dataset(r["synthetic_per_class"], r["resolution"], progress=False) if r["data"] == "synthetic"
                    else ImageSet.load(prepare_cifar(out, cifar, r["resolution"])))
            reals[key] = real_features(data, net, min(r["samples"], len(data)), progress=False)
        x = torch.from_numpy(np.load(src / f"{r['run']}.npz")["images"])
        fake, _ = inception_features((x[i:i + 64] for i in range(0, len(x), 64)), net)
        r.update(fid_kid(reals[key]["pool3"], fake))
        config, seed = r["run"].split("-", 1)[1].rsplit("-s", 1)
        rows.append(table_row(config, r["data"], int(seed), r["kimg"], r["train_minutes"], r, len(x)))
        print(f"ablation: {r['run']}: FID {r['fid']:.2f} KID {r['kid']:.4f} +-{r['kid_se']:.4f}", flush=True)
    return packed, rows


def common_settings(packed, generator):
    "What every packed run shares: generator fields (each configuration adds its own) and learning rates and loss."
    cfgs = [r["train_config"] for r in packed if "train_config" in r]
    if not cfgs: return dict(generator=dict(preset="tiny", **generator))          # packed before runs recorded their config
    gen = {k: v for k, v in cfgs[0]["generator"].items() if all(c["generator"].get(k, object()) == v for c in cfgs)}
    train = {k: cfgs[0][k] for k in ("g_lr", "d_lr", "loss") if all(c[k] == cfgs[0][k] for c in cfgs)}
    return dict(generator=dict(preset=cfgs[0]["preset"], **gen), train=train)


def write_report(report, out, results, n_rows, n_plan):
    for path in [out / "ablation.json"] + ([Path(results)] if results else []):
        tmp = path.with_name(path.name + ".tmp"); tmp.write_text(json.dumps(report, indent=1) + "\n"); tmp.replace(path)
    print("\n" + format_table(report["table"]))
    print(f"\nablation: {n_rows} of {n_plan} runs scored; results in {out / 'ablation.json'}" + (f" and {results}" if results else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/ablation", help="folder of the runs and of ablation.json")
    ap.add_argument("--configs", default=",".join(ABLATION), help="comma-separated ablation recipes")
    ap.add_argument("--data", default="synthetic,cifar10", help="comma-separated: synthetic, cifar10")
    ap.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    ap.add_argument("--kimg", type=float, default=4.0, help="training budget of every run, thousands of real images")
    ap.add_argument("--generator", default=json.dumps(TOY), help="generator fields on top of the tiny preset (JSON)")
    ap.add_argument("--train", default="{}", help="training fields for every run on top of its recipe (JSON TrainConfig fields), "
                    "e.g. '{\"r1_gamma\": 2}'")
    ap.add_argument("--base", default="", help="a recipe (e.g. laptop) whose settings every run starts from: its generator and "
                    "training fields, not its views, switch or best_view (each configuration's own); --generator and --train go on top")
    ap.add_argument("--samples", type=int, default=1000, help="generated images for FID/KID")
    ap.add_argument("--geometry_samples", type=int, default=100, help="generated objects for the geometry scores")
    ap.add_argument("--cifar", default=str(CIFAR), help="CIFAR-10 JPEG archive or folder (class sub-folders)")
    ap.add_argument("--jobs", type=int, default=1, help="runs side by side (the CPU's threads are shared out)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where runs train and are scored")
    ap.add_argument("--batch", type=int, default=8, help="training batch of every run (a GPU shared by many runs: 32)")
    ap.add_argument("--snapshot_kimg", type=float, default=0.0, help="checkpoint interval (default kimg / 4); all are kept")
    ap.add_argument("--minutes", type=float, default=0.0,
                    help="also stop each run's training after this many minutes (a device's time limit); runs stopped "
                         "short of --kimg are not scored here: --pack compares them at the step all of them kept")
    ap.add_argument("--train_only", action="store_true", help="train, score nothing (score elsewhere with --score_only)")
    ap.add_argument("--pack", metavar="DIR", help="(on a machine without the Inception weights, after --train_only) the "
                    "geometry scores and generated images of every trained run at the largest step all kept, into DIR")
    ap.add_argument("--unpack", metavar="DIR", help="FID/KID of a --pack folder's images here; writes the results")
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
    try: train_fields = json.loads(a.train)
    except json.JSONDecodeError as e: sys.exit(f"ablation: --train is not JSON ({e})")
    from dataclasses import fields
    from geo3d.config import TrainConfig, LOSS_FIELDS
    known = ({f.name for f in fields(TrainConfig)} | LOSS_FIELDS) - {"generator", "loss"}      # loss fields flat, as on the CLI
    unknown = [k for k in train_fields if k not in known]
    if unknown: sys.exit(f"ablation: --train: {unknown} are neither TrainConfig nor loss fields (generator fields go in --generator)")
    if a.base:
        from geo3d.config import recipe_changes
        try: base_gen, base_train = recipe_changes(a.base)
        except ValueError as e: sys.exit(f"ablation: --base: {e}")
        generator = {**base_gen, **generator}
        # each configuration keeps its own views and switch; best_view (not the paper's) would change the multi-view row's loss
        axis = ("views", "switch_kimg", "auto_switch", "best_view")
        train_fields = {**{k: v for k, v in base_train.items() if k not in axis}, **train_fields}
    if a.batch < 1 or a.kimg <= 0 or a.minutes < 0 or a.snapshot_kimg < 0:
        sys.exit("ablation: --batch, --kimg must be positive and --minutes, --snapshot_kimg not negative")
    import torch
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("ablation: --device cuda but torch sees no CUDA GPU; use --device cpu")
    device = "cuda" if a.device != "cpu" and torch.cuda.is_available() else "cpu"      # where scoring runs
    out = Path(a.out).resolve(); (out / "runs").mkdir(parents=True, exist_ok=True)
    from geo3d.generator import preset
    res = preset("tiny", **generator).output_resolution
    data_arg = {"synthetic": "synthetic"}
    if "cifar10" in datasets and not a.dry_run: data_arg["cifar10"] = str(prepare_cifar(out, a.cifar, res).resolve())

    plan = [(d, c, s) for d in datasets for s in seeds for c in configs]
    name = lambda d, c, s: f"{d}-{c}-s{s}"
    if a.pack:
        return pack(out, Path(a.pack), [name(*p) for p in plan], a.samples, a.geometry_samples, device)
    if a.unpack:
        packed, rows = unpack(Path(a.unpack), out, a.cifar)
        first = packed[0]
        provenance = dict(machine=first["machine"], scored_on=machine("cpu"), commit=first["commit"],
                          date=time.strftime("%Y-%m-%d %H:%M"),
                          kimg_per_run=(lambda k: k[0] if len(k) == 1 else k)(sorted({r["kimg"] for r in rows})),
                          batch=first["batch"], **common_settings(packed, generator),
                          eval=dict(samples=first["samples"], geometry_samples=first["geometry_samples"], psi=1.0, seed=0,
                                    geometry=first["geometry"]),
                          note="trained and geometry-scored on the first machine, every run at the largest step all runs "
                               "kept; FID/KID of its generated images computed on the second (where the Inception weights are)")
        return write_report(dict(provenance=provenance, runs=rows, table=summarise(rows)), out, a.results, len(rows), len(rows))
    jobs = []
    for d, c, s in plan:
        run, n = out / "runs" / name(d, c, s), name(d, c, s)
        kimg, _ = trained_kimg(run)
        done_training = finished(run, a.kimg, a.minutes)
        state = ("scored" if geometry_current(run) else "scored (old geometry scoring)") if scored(run, a.kimg, a.minutes) else \
            "trained" if done_training else f"at {kimg:.2f} kimg" if has_checkpoint(run) else "new"
        print(f"ablation: {n:40s} {state}")
        def reached(run=run, n=n):               # after the training exited 0: at its kimg, its time limit, or a signal
            got = trained_kimg(run)[0]
            if got >= a.kimg - 1e-6: return None
            if not a.minutes: return f"training stopped at {got:.2f} of {a.kimg} kimg; run again to resume"
            (run / TIME_LIMIT).write_text(json.dumps(dict(minutes=a.minutes, kimg=got)))   # this script's own kill never gets here
            print(f"ablation: {n} reached its {a.minutes:g}-minute limit at {got:.2f} kimg", flush=True)
        train = [train_command(run, c, data_arg.get(d, d), s, a.kimg, generator, a.snapshot_kimg or a.kimg / 4,
                               a.device, a.batch, a.minutes, train_fields), reached]
        cmds = ([] if done_training else train) + ([] if state == "scored" or a.train_only else
                                                   [rescore_command(run, a.geometry_samples)] if state.startswith("scored")
                                                   else [eval_command(run, a.samples, a.geometry_samples, device)])
        if cmds and not (a.score_only and not done_training): jobs.append((n, cmds, out / "runs" / f"{n}.log"))
    failed = [] if a.dry_run else run_jobs(jobs, a.jobs, max(1, (os.cpu_count() or 1) // a.jobs))

    rows = []
    for d, c, s in plan:
        run = out / "runs" / name(d, c, s)
        if not (scored(run, a.kimg, a.minutes) and geometry_current(run)): continue
        ev = json.loads((run / "eval.json").read_text())
        scores = next(iter(ev["results"].values()))
        kimg, seconds = trained_kimg(run)
        rows.append(table_row(c, d, s, kimg, round(seconds / 60, 2), scores, ev.get("samples")))
    report = dict(provenance=dict(machine=machine(a.device), commit=git_commit(), date=time.strftime("%Y-%m-%d %H:%M"),
                                  kimg_per_run=a.kimg, batch=a.batch, generator=dict(preset="tiny", **generator), train=train_fields,
                                  eval=dict(samples=a.samples, geometry_samples=a.geometry_samples, psi=1.0, seed=0,
                                            geometry=SCORING),
                                  command="python bench/ablation.py " + " ".join(x for x in (argv if argv is not None else sys.argv[1:]) if x != "--dry_run")),
                  runs=rows, table=summarise(rows))
    write_report(report, out, a.results, len(rows), len(plan))
    if failed: sys.exit(f"ablation: {len(failed)} job(s) failed: {failed}; fix and run the same command again")


if __name__ == "__main__":
    main()
