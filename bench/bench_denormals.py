"""Denormal floats late in training: the step time of a run's last state, with and without flushing them to zero
(`geo3d.renderer.flush_denormals`, which `geo3d_train` calls first thing), side by side in one run.

Each round copies the run's last checkpoint into a scratch folder and continues it with `geo3d_train --resume ... --steps`
in a fresh process, once with GEO3D_FLUSH_DENORMALS=0 (denormals kept: the behaviour before) and once with flushing; rounds
alternate the two, so machine noise hits both. The figure is the median `sec_per_step` of the logged steps after the
first 10 (the first ones warm up). Denormals appear as a model sharpens, so a fresh model shows no difference: give a run
that has trained for a while.

    geo3d_train --recipe laptop --out runs/laptop --minutes 30
    python bench/bench_denormals.py runs/laptop                       # 60 steps per process, 2 rounds
    python bench/bench_denormals.py runs/laptop --steps 40 --rounds 3 --json bench/results/denormals_cpu.json
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def timed_continuation(run, steps, flush, scratch):
    "Median sec/step of `steps` more steps of `run`'s last state in a fresh `geo3d_train` process (after 10 warm-up steps)."
    work = Path(scratch) / "run"
    shutil.rmtree(work, ignore_errors=True); work.mkdir(parents=True)
    for name in ("checkpoint.safetensors", "resume.pt", "config.json", "stats.jsonl"): shutil.copy(Path(run) / name, work / name)
    import torch
    last = int(torch.load(work / "resume.pt", map_location="cpu", weights_only=True)["step"])   # the step it continues from
    env = dict(os.environ, GEO3D_FLUSH_DENORMALS="1" if flush else "0")
    subprocess.run(["geo3d_train", "--resume", str(work), "--steps", str(last + steps), "--quiet"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    logged = [json.loads(l) for l in (work / "stats.jsonl").read_text().splitlines() if l.strip()]
    times = [s["sec_per_step"] for s in logged if s["step"] > last + 10]
    if not times: sys.exit(f"bench_denormals: --steps {steps} leaves no logged step after the warm-up; give at least 20")
    return statistics.median(times), last


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a geo3d_train run folder (its last checkpoint is continued, in a scratch copy)")
    p.add_argument("--steps", type=int, default=60, help="steps per process (the first 10 are not timed)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of (denormals kept, flushed)")
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args(argv)
    if not (Path(a.run) / "resume.pt").exists(): sys.exit(f"bench_denormals: {a.run} holds no resumable run (resume.pt)")
    res = {"kept": [], "flushed": []}
    with tempfile.TemporaryDirectory(prefix="geo3d-denormals-") as scratch:
        for r in range(a.rounds):
            for name, flush in (("kept", False), ("flushed", True)):
                t, step = timed_continuation(a.run, a.steps, flush, scratch)
                res[name].append(t)
                print(f"round {r + 1}: denormals {name:7s} {t:.3f} s/step", flush=True)
    kept, flushed = statistics.median(res["kept"]), statistics.median(res["flushed"])
    print(f"{a.run} at step {step}: denormals kept {kept:.3f} s/step, flushed {flushed:.3f} s/step: {kept / flushed:.2f}x")
    if a.json:
        from ablation import machine, git_commit
        Path(a.json).write_text(json.dumps(dict(run=str(a.run), step=step, steps_per_process=a.steps, rounds=a.rounds,
                                                sec_per_step=res, speedup=round(kept / flushed, 3), machine=machine(),
                                                commit=git_commit()), indent=1) + "\n")


if __name__ == "__main__":
    main()
