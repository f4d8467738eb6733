"""Training speed: seconds per step and images per second for single-view (K=1) and multi-view (K=3) discrimination,
side by side in one run (rounds alternate between the variants, so machine noise hits all).

A step is one generator phase and one discriminator phase at the global batch (plus the lazy regularisers at their
intervals, averaged in by timing a whole number of intervals). "images/s" counts real images consumed (kimg pace);
"views/s" counts generated views rendered for the generator phase. On CUDA also peak memory and sec/kimg.

Variants: `K=1`; `K=3` (the discriminator's own phase judges one view per fake, the default); `K=3 all` (it judges
all K views, `--d_all_views`); with `--before DIR` also K=1 and K=3 of another geo3d checkout (e.g.
`git worktree add /tmp/before <commit>`), for before/after figures in the same run. Each variant runs in its own
process. On a CPU also each process's peak resident memory; `--malloc_defaults` adds K=1 and K=3 of this checkout
with glibc's malloc defaults (the training step keeps freed memory: `geo3d.renderer.keep_cpu_memory`); `--recompute`
adds K=1 and K=3 with `TrainConfig.recompute` (the generator phase recomputes the super-resolution's and D's activations
in backward instead of keeping them); `--reuse` adds K=1 and K=3 with `LossConfig.d_reuse_fakes` (the discriminator's
phase judges the generator phase's fakes instead of rendering new ones; changes training); `--forms` adds other forms of the same step (the FIR filters as pools, the
field's fused pass, channels-last image networks; see `--help`); `--compile` adds K=1 and K=3 with torch.compile (with `--reuse
--forms` also `reuse cl` and `reuse compile cl`: the CPU's savings together); `--bf16` adds K=1 and K=3 with bf16
autocast on a CPU (`TrainConfig.cpu_bf16`; with `--reuse` also `reuse bf16`, with `--forms` too `reuse bf16 cl`,
and with `--compile` `reuse bf16 compile`, with both `reuse bf16 compile cl`).
`--only` picks variants by name; `--profile` prints each variant's top ops; `--phases` (CUDA) the peak memory of the
generator and the discriminator phase apart.

    python bench/bench_train.py                                   # tiny preset, CPU, batch 8
    python bench/bench_train.py --before /tmp/before              # ... and an earlier checkout
    python bench/bench_train.py --preset imagenet256 --batch 8    # the paper's model (GPU; bf16 autocast)
    python bench/bench_train.py --toy                              # the ablation's toy scale (geo3d.config.TOY)
    python bench/bench_train.py --preset imagenet256 --batch 8 --recompute --only K=1,K=3,"K=3 recompute"
"""
import argparse
import atexit
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch


def _own(module):
    "Whether the imported geo3d (maybe an older checkout, `--before`) has this module itself, not by the installed copy's finder."
    import geo3d
    return os.path.isfile(os.path.join(os.path.dirname(geo3d.__file__), module + ".py"))


def make_trainer(preset, batch, views, device, data, seed=0, d_all_views=None, generator=None, recompute=False, fused=False,
                 compile=False, reuse=False, cpu_bf16=False):
    from geo3d.train import Trainer
    if _own("config"): from geo3d.config import TrainConfig
    else: from geo3d.train import TrainConfig                     # older checkouts
    extra = dict(generator=dict(generator)) if generator else {}
    cfg = TrainConfig(preset=preset, batch=batch, views=views, switch_kimg=0.0 if views > 1 else -1.0, auto_switch=False,
                      kimg=1e6, snapshot_kimg=1e6, log_every=10**9, seed=seed, **extra)
    if recompute: cfg.recompute = True                            # as geo3d_train --recompute / --fused / --compile set them
    if fused: cfg.fused = True
    if compile: cfg.compile = True
    if d_all_views is not None: cfg.loss.d_all_views = d_all_views
    if reuse: cfg.loss.d_reuse_fakes = True
    if cpu_bf16: cfg.cpu_bf16 = True
    out = tempfile.mkdtemp(prefix="geo3d-bench-")
    atexit.register(shutil.rmtree, out, True)                     # the timed run's folder goes with its process
    return Trainer(cfg, out, device=device, progress=False, data=data)


def timed_steps(tr, n):
    sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        tr.train_step()
    sync()
    return (time.perf_counter() - t0) / n


def profile(tr, steps=3, rows=25):
    "The ops of `steps` training steps by self time on the device (CUDA) or the CPU: where a step's time goes."
    from torch.profiler import profile as prof, ProfilerActivity
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if tr.device.type == "cuda" else [])
    with prof(activities=acts) as p:
        for _ in range(steps): tr.train_step()
        if tr.device.type == "cuda": torch.cuda.synchronize()
    key = "self_cuda_time_total" if tr.device.type == "cuda" else "self_cpu_time_total"
    print(p.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=60))


def phase_peaks(tr):
    """Peak CUDA memory of one generator phase and one discriminator phase (with R1), each measured from its own reset,
    beside the memory held between them: which phase sets a step's peak."""
    from geo3d import rng
    saved = tr.step
    tr.step = -(-tr.step // tr.cfg.loss.r1_interval) * tr.cfg.loss.r1_interval   # a step with R1 (and the density term)
    r, g = tr.draw(), rng.step_generator(tr.cfg.seed, tr.step, 1, tr.device)
    out = {}
    for name, phase in (("generator phase", tr.generator_phase), ("discriminator phase", tr.discriminator_phase)):
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        held = torch.cuda.memory_allocated()
        phase(r, g); torch.cuda.synchronize()
        out[name] = dict(held_gb=held / 2**30, peak_gb=torch.cuda.max_memory_allocated() / 2**30)
    tr.step = saved
    return out


def child(a, views, mode):
    knobs = set(mode.split("+"))        # e.g. "one", "recompute", "one+fused+pool"
    os.environ.setdefault("GEO3D_CACHE", os.path.join(tempfile.gettempdir(), "geo3d-bench-cache"))
    if _own("synthetic"): from geo3d.synthetic import embedded_dataset
    else: from geo3d.data import embedded_dataset                 # older checkouts
    from geo3d.generator import preset
    overrides = json.loads(a.generator)
    data = embedded_dataset(8, preset(a.preset, **overrides).output_resolution, progress=False)   # speed does not depend on its size
    if "malloc" in knobs: os.environ["GEO3D_KEEP_CPU_MEMORY"] = "0"      # the training step leaves malloc alone
    if "pool" in knobs:
        from geo3d.backbone import set_fir_form
        set_fir_form("pool")
    tr = make_trainer(a.preset, a.batch, views, a.device, data, d_all_views=True if "all" in knobs else None, generator=overrides,
                      recompute="recompute" in knobs, fused="fused" in knobs, compile="compile" in knobs,
                      reuse="reuse" in knobs, cpu_bf16="bf16" in knobs)
    if "cl" in knobs:                                              # the image networks channels-last (cuDNN's layout)
        for m in (tr.G.superres, tr.D): m.to(memory_format=torch.channels_last)
    tr.train_step(); tr.train_step()                               # warm-up, and step 0's regularisers
    if tr.device.type == "cuda": torch.cuda.reset_peak_memory_stats()
    s = timed_steps(tr, a.steps)
    dev = torch.cuda.get_device_name() if tr.device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    peak = torch.cuda.max_memory_allocated() / 2**30 if tr.device.type == "cuda" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20          # Linux: KiB
    if a.profile: profile(tr)
    phases = None
    if a.phases and tr.device.type == "cuda":
        try: phases = phase_peaks(tr)
        except Exception as e: phases = dict(error=f"{type(e).__name__}: {e}")   # the timing above still counts
    print(json.dumps(dict(seconds=s, peak_gb=peak, device=dev, phases=phases)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--generator", default="{}", metavar="JSON", help="generator fields that differ from the preset")
    p.add_argument("--toy", action="store_true", help="the ablation's toy scale: --generator set to geo3d.config.TOY")
    p.add_argument("--views", type=int, default=3, help="K for the multi-view variants")
    p.add_argument("--steps", type=int, default=16, help="timed steps per round (a multiple of the R1 interval 16 is fair)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--before", metavar="DIR", help="another geo3d checkout: time its K=1 and K=3 steps too")
    p.add_argument("--malloc_defaults", action="store_true", help="also time K=1 and K=3 with glibc's malloc defaults")
    p.add_argument("--recompute", action="store_true", help="also time K=1 and K=3 with --recompute (the generator phase "
                   "recomputes the super-resolution's and D's activations in backward: less memory, more time)")
    p.add_argument("--reuse", action="store_true", help="also time K=1 and K=3 with --d_reuse_fakes (D's phase judges the "
                   "generator phase's fakes: no second render; changes training)")
    p.add_argument("--forms", action="store_true", help="also time other forms of the same step: 'pool' (the FIR filters "
                   "as pools and interpolation), 'fused' (the field's fused sampling and decoding pass), 'cl' (super-resolution "
                   "and D channels-last), and their combinations")
    p.add_argument("--compile", action="store_true", help="also time K=1 and K=3 with backbone and super-resolution "
                   "compiled (torch.compile; the compilation happens in the warm-up steps, not timed); with --reuse and --forms "
                   "also 'reuse cl' and 'reuse compile cl', the CPU's savings together")
    p.add_argument("--bf16", action="store_true", help="(CPU) also time K=1 and K=3 with bf16 autocast (TrainConfig.cpu_bf16; "
                   "faster where the CPU has AVX512-BF16 or AMX); with --reuse also 'reuse bf16' (and its cl and compile forms with --forms "
                   "and --compile)")
    p.add_argument("--only", metavar="NAMES", help="time only these variants (comma-separated names as printed, e.g. 'K=1,K=3')")
    p.add_argument("--profile", action="store_true", help="after timing, print each variant's top ops by self time (torch.profiler)")
    p.add_argument("--phases", action="store_true", help="(CUDA) also the peak memory of each phase of a step with R1")
    p.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a, int(a.child[0]), a.child[1])
    if a.toy:
        from geo3d.config import TOY
        a.generator = json.dumps(TOY)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    k = a.views
    variants = {"K=1": (here, 1, "one"), f"K={k}": (here, k, "one"), f"K={k} all": (here, k, "all")}
    if a.malloc_defaults:
        variants.update({"K=1 glibc malloc": (here, 1, "malloc"), f"K={k} glibc malloc": (here, k, "malloc")})
    if a.recompute:
        variants.update({"K=1 recompute": (here, 1, "recompute"), f"K={k} recompute": (here, k, "recompute")})
    if a.reuse:
        variants.update({"K=1 reuse": (here, 1, "one+reuse"), f"K={k} reuse": (here, k, "one+reuse")})
    if a.forms:
        for name, mode in (("pool", "pool"), ("fused", "fused"), ("cl", "cl"), ("pool fused", "pool+fused"),
                           ("pool fused cl", "pool+fused+cl"), ("fused recompute", "fused+recompute")):
            variants.update({f"K=1 {name}": (here, 1, "one+" + mode), f"K={k} {name}": (here, k, "one+" + mode)})
    if a.compile:
        variants.update({"K=1 compile": (here, 1, "one+compile"), f"K={k} compile": (here, k, "one+compile")})
        if a.reuse and a.forms:                                    # the three that each saved time on a CPU, together
            variants.update({"K=1 reuse cl": (here, 1, "one+reuse+cl"), f"K={k} reuse cl": (here, k, "one+reuse+cl"),
                             "K=1 reuse compile cl": (here, 1, "one+reuse+compile+cl"),
                             f"K={k} reuse compile cl": (here, k, "one+reuse+compile+cl")})
    if a.bf16:
        variants.update({"K=1 bf16": (here, 1, "one+bf16"), f"K={k} bf16": (here, k, "one+bf16")})
        if a.reuse: variants.update({"K=1 reuse bf16": (here, 1, "one+reuse+bf16"), f"K={k} reuse bf16": (here, k, "one+reuse+bf16")})
        if a.reuse and a.forms: variants.update({"K=1 reuse bf16 cl": (here, 1, "one+reuse+bf16+cl"),
                                                 f"K={k} reuse bf16 cl": (here, k, "one+reuse+bf16+cl")})
        if a.reuse and a.compile:                                  # the CPU's two savings that change no result, with torch.compile
            variants.update({"K=1 reuse bf16 compile": (here, 1, "one+reuse+bf16+compile"),
                             f"K={k} reuse bf16 compile": (here, k, "one+reuse+bf16+compile"),
                             "K=1 reuse bf16 compile cl": (here, 1, "one+reuse+bf16+compile+cl"),
                             f"K={k} reuse bf16 compile cl": (here, k, "one+reuse+bf16+compile+cl")})
    if a.before:
        if not os.path.isfile(os.path.join(a.before, "geo3d", "train.py")):
            raise SystemExit(f"--before {a.before}: not a geo3d checkout (no geo3d/train.py)")
        before = os.path.abspath(a.before)
        variants.update({"before K=1": (before, 1, "one"), f"before K={k}": (before, k, "one")})
    if a.only:
        keep = [v.strip() for v in a.only.split(",")]
        unknown = [v for v in keep if v not in variants]
        if unknown: raise SystemExit(f"--only: unknown variant(s) {unknown}; these exist: {list(variants)}")
        keep = ["K=1"] + [v for v in keep if v != "K=1"]          # every ratio is to a K=1 step: timed and tabled first
        variants = {v: variants[v] for v in keep}
    runs = {v: [] for v in variants}
    for _ in range(a.rounds):
        for name, (tree, views, d) in variants.items():
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")]))
            cmd = [sys.executable, os.path.abspath(__file__), "--child", str(views), d, "--preset", a.preset,
                   "--batch", str(a.batch), "--generator", a.generator, "--steps", str(a.steps), "--device", a.device] + \
                  (["--profile"] if a.profile else []) + (["--phases"] if a.phases else [])
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree)
            if out.returncode:
                if name == "K=1": raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
                print(f"{name} failed (left out):\n{out.stderr[-1500:]}", flush=True)
                continue
            lines = out.stdout.strip().splitlines()
            if a.profile: print(f"{name}: profile of 3 steps\n" + "\n".join(lines[:-1]), flush=True)
            runs[name].append(json.loads(lines[-1]))
            r = runs[name][-1]                                  # as it comes, for a run that is cut short
            print(f"  {name}: {r['seconds']:.3f} s/step" + (f", peak {r['peak_gb']:.2f} GB" if r["peak_gb"] else ""), flush=True)
    scale = "" if a.generator == "{}" else f" with {a.generator}"
    print(f"preset {a.preset}{scale}, batch {a.batch}, {runs['K=1'][0]['device']}, {a.steps} steps x {a.rounds} rounds (median)")
    table = {}
    for name, rs in runs.items():
        if not rs: continue
        s = statistics.median(r["seconds"] for r in rs)
        views = variants[name][1]
        peak = max((r["peak_gb"] for r in rs if r["peak_gb"] is not None), default=None)
        table[name] = dict(seconds_per_step=s, images_per_s=a.batch / s, views_per_s=a.batch * views / s,
                           seconds_per_kimg=1000 / a.batch * s, peak_gb=peak)
        if rs[-1].get("phases"):
            table[name]["phases"] = rs[-1]["phases"]
            if "error" in rs[-1]["phases"]: print(f"{name:14s} phases: {rs[-1]['phases']['error']}")
            else: print(f"{name:14s} " + "; ".join(f"{k}: peak {v['peak_gb']:.2f} GB (held before it {v['held_gb']:.2f} GB)"
                                             for k, v in rs[-1]["phases"].items()))
        base = table.get("before K=1" if name.startswith("before") else "K=1 glibc malloc" if "malloc" in name else "K=1",
                         table["K=1"])["seconds_per_step"]
        mem = f", peak {peak:.2f} GB" + (" RSS" if "CPU" in rs[0]["device"] else "") if peak is not None else ""
        print(f"{name:14s} {s:7.3f} s/step, {a.batch / s:6.1f} images/s, {a.batch * views / s:6.1f} views/s, "
              f"{1000 / a.batch * s:6.0f} s/kimg{mem}  ({s / base:.2f}x its K=1 step)")
    if a.before:                                                   # every variant of this checkout against the before step of its K
        for name in table:
            old = f"before K={variants[name][1]}"
            if not name.startswith("before") and old in table:
                print(f"speed-up {name} over {old}: {table[old]['seconds_per_step'] / table[name]['seconds_per_step']:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            from ablation import machine                           # provenance: which CPU or GPU (same folder)
            json.dump(dict(preset=a.preset, generator=json.loads(a.generator), batch=a.batch, device=runs["K=1"][0]["device"], steps=a.steps, rounds=a.rounds,
                           machine=machine(a.device), results=table), f, indent=1)


if __name__ == "__main__":
    main()
