"""Single-view reconstruction (PTI): seconds per photo for each stage, and the truth check on the synthetic world's
held-out split.

Truth check (`--checkpoint`): every held-out photo (`--per_class` instances of every class, never in a training set)
is reconstructed with and without the camera search, with its true class given, and each stage is scored against the
true object: LPIPS-Alex on the input view, mean absolute depth error within the true silhouette (world units), and
LPIPS / PSNR of four novel views (turned -90, -45, 45, 90 degrees about the photo's camera). Rows: the starting point
(no optimisation), stage 1, stage 1 + 2. Results go to a JSON file after every photo, and a rerun with the same --out
continues where it stopped. `--auto_class` also records the class the method chooses by itself.

Timing only (`--preset`, random weights): the default settings on one photo, seconds per stage.

    python bench/bench_inversion.py --checkpoint runs/tiny --out bench/results/inversion.json
    python bench/bench_inversion.py --preset tiny                                  # timing, CPU
    python bench/bench_inversion.py --preset imagenet256 --device cuda             # timing, the paper's model on a GPU
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

KEYS = ("lpips_input", "depth_error", "lpips_novel", "psnr_novel")


def provenance(checkpoint=None):
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        if commit and subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                     text=True).stdout.strip():
            commit += "+dirty"                                            # results of a tree with uncommitted changes
    except OSError: commit = None
    d = dict(date=time.strftime("%Y-%m-%d %H:%M"), commit=commit, machine=platform.node(), cpu=platform.processor() or platform.machine(),
             cpu_threads=torch.get_num_threads(), torch=torch.__version__,
             device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu")
    if checkpoint:
        from geo3d.checkpoint import read_checkpoint
        meta = read_checkpoint(checkpoint)[1]
        d.update(checkpoint=str(checkpoint), step=int(meta.get("step", -1)), kimg=round(int(meta.get("nimg", 0)) / 1000, 2))
    return d


def table(rows):
    "Mean (sd) of each score over the photos, one line per variant."
    lines = [f"{'variant':28s}" + "".join(f"{k:>18s}" for k in KEYS) + f"{'photos':>8s}"]
    for name in rows[0]["scores"]:
        vals = {k: [r["scores"][name][k] for r in rows] for k in KEYS}
        cell = lambda v: f"{statistics.mean(v):.3f} ({statistics.pstdev(v):.3f})"
        lines.append(f"{name:28s}" + "".join(f"{cell(vals[k]):>18s}" for k in KEYS) + f"{len(rows):>8d}")
    return "\n".join(lines)


def timing(a):
    from geo3d.generator import TriplaneGenerator, preset
    from geo3d.inversion import InversionConfig, reconstruct
    from geo3d.pretrained import lpips_net
    from geo3d.synthetic import heldout_instance, CLASS_NAMES
    torch.manual_seed(0)
    G = TriplaneGenerator(preset(a.preset, n_classes=10)).to(a.device).eval().requires_grad_(False)
    G.class_names = CLASS_NAMES
    photo = heldout_instance(3, 0, G.cfg.output_resolution)["images"] * 2 - 1
    lp = lpips_net("vgg").to(a.device)
    cfg = InversionConfig(**({} if a.stage1_steps is None else dict(stage1_steps=a.stage1_steps)),
                          **({} if a.stage2_steps is None else dict(stage2_steps=a.stage2_steps)))
    for search in (False, True):
        rec = reconstruct(G, photo.to(a.device), replace(cfg, camera_search=search), class_id=3, lp=lp, progress=False)
        s = rec.report["seconds"]
        print(f"{a.preset} on {a.device}, camera search {search}: " + ", ".join(f"{k} {v:.1f} s" for k, v in s.items())
              + f"; {s['stage1'] / max(cfg.stage1_steps, 1):.3f} s per stage-1 step, {s['stage2'] / max(cfg.stage2_steps, 1):.3f} s per stage-2 step")
        if torch.cuda.is_available() and a.device.startswith("cuda"):
            print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


PICTURE_YAWS = (-90, 45)


@torch.no_grad()
def picture_row(rec, t):
    "One row: photo, start, stage 1, stage 1+2, depth, then (truth, reconstruction) per novel yaw."
    from geo3d.inversion import relative_views
    from geo3d.viz import depth_tiles
    R = rec.G.cfg.output_resolution
    out = [t["photo"], rec.render(stage=0)["image"], rec.render(stage=1)["image"], rec.render()["image"],
           depth_tiles(rec.render()["depth"], R)]
    true = t["render"](relative_views(t["cam2world"], PICTURE_YAWS))
    mine = rec.render(relative_views(rec.cam2world[0], PICTURE_YAWS))["image"]
    for i in range(len(PICTURE_YAWS)): out += [true[i:i + 1], mine[i:i + 1]]
    return torch.cat([x.float().cpu().clamp(-1, 1) for x in out])


def truth(a):
    from geo3d.checkpoint import load_generator
    from geo3d.inversion import InversionConfig, reconstruct, truth_scores, choose_classes
    from geo3d.pretrained import lpips_net, imagenet_classifier, imagenet_probs
    from geo3d.synthetic import synthetic_truth, CLASS_NAMES
    from tqdm.auto import tqdm
    G = load_generator(a.checkpoint, device=a.device)
    if G.class_names != CLASS_NAMES:
        sys.exit(f"bench_inversion: {a.checkpoint} was not trained on the synthetic world (classes {G.class_names[:5]}...)")
    out = Path(a.out)
    res = json.loads(out.read_text()) if out.exists() else dict(provenance=provenance(a.checkpoint), photos=[])
    cfg = InversionConfig(**({} if a.stage1_steps is None else dict(stage1_steps=a.stage1_steps)),
                          **({} if a.stage2_steps is None else dict(stage2_steps=a.stage2_steps)))
    res["config"] = asdict(cfg)
    lp, alex = lpips_net("vgg").to(a.device), lpips_net("alex").to(a.device)
    clf = imagenet_classifier() if a.auto_class else None
    done, pics = {(r["class_id"], r["index"]) for r in res["photos"]}, []
    jobs = [(k, i) for i in range(a.per_class) for k in range(len(CLASS_NAMES))]
    shard, shards = map(int, a.shard.split("/"))
    jobs = [j for j in jobs[shard::shards] if j not in done]
    for k, i in tqdm(jobs, desc="held-out photos"):
        t = synthetic_truth(k, i, G.cfg.output_resolution)
        row = dict(class_id=k, class_name=CLASS_NAMES[k], index=i, scores={}, seconds={})
        for search in (False, True):
            tag = "search" if search else "fixed camera"
            rec = reconstruct(G, t["photo"].to(a.device), replace(cfg, camera_search=search), class_id=k, lp=lp, progress=False)
            for stage, name in ((0, "start"), (1, "stage 1"), (2, "stage 1+2")):
                row["scores"][f"{name}, {tag}"] = truth_scores(rec, t, alex, stage)
            row["seconds"][tag] = rec.report["seconds"]
            if not search and a.pictures and len(pics) < a.pictures_n:
                pics.append(picture_row(rec, t))
            row.setdefault("camera", {})[tag] = {key: rec.report["camera"][key] for key in ("elevation", "azimuth")}
        if a.auto_class:
            probs = imagenet_probs(t["photo"], clf)[0]
            classes, decided, _ = choose_classes(G, probs)
            r = reconstruct(G, t["photo"].to(a.device), replace(cfg, stage1_steps=0, stage2_steps=0), probs=probs, lp=lp, progress=False)
            row["auto_class"] = dict(chosen=r.class_id, right=r.class_id == k, decided_by=r.report["class_decided_by"])
        res["photos"].append(row)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp"); tmp.write_text(json.dumps(res, indent=1)); os.replace(tmp, out)
    if pics:
        from geo3d.viz import image_grid, save_image
        save_image(image_grid(torch.cat(pics), ncols=len(pics[0])), a.pictures)
        print(f"pictures: {a.pictures} (per row: photo, start, stage 1, stage 1+2, its depth, then true and reconstructed views at "
              f"{PICTURE_YAWS} degrees)")
    report(res, out)


def report(res, out):
    rows = res["photos"]
    print(table(rows))
    for tag in ("fixed camera", "search"):
        sec = {k: statistics.mean(r["seconds"][tag][k] for r in rows) for k in rows[0]["seconds"][tag]}
        print(f"seconds per photo, {tag}: " + ", ".join(f"{k} {v:.1f}" for k, v in sec.items()))
    if "auto_class" in rows[0]:
        print(f"class chosen by the method: {sum(r['auto_class']['right'] for r in rows)} / {len(rows)} right")
    print(f"results: {out}")


def merge(a):
    parts = [json.loads(Path(f).read_text()) for f in a.merge]
    res = dict(parts[0], photos=sorted((r for p in parts for r in p["photos"]), key=lambda r: (r["index"], r["class_id"])))
    res["provenance"]["merged_from"] = [f"{f} ({len(p['photos'])} photos)" for f, p in zip(a.merge, parts)]
    Path(a.out).write_text(json.dumps(res, indent=1))
    report(res, a.out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="a model trained on the synthetic world: run the truth check")
    p.add_argument("--preset", default="tiny", help="without --checkpoint: time this preset with random weights")
    p.add_argument("--per_class", type=int, default=1, help="held-out photos per class")
    p.add_argument("--stage1_steps", type=int, default=None, help="default: InversionConfig's")
    p.add_argument("--stage2_steps", type=int, default=None, help="default: InversionConfig's")
    p.add_argument("--auto_class", action="store_true", help="also record the class the method picks by itself")
    p.add_argument("--shard", default="0/1", help="i/n: only every n-th photo from the i-th (parallel runs, one --out each)")
    p.add_argument("--pictures", help="PNG of the first --pictures_n photos (fixed camera): views against the truth")
    p.add_argument("--pictures_n", type=int, default=3)
    p.add_argument("--merge", nargs="+", help="print the table of these result files together (and write --out)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="bench/results/inversion.json")
    a = p.parse_args()
    if a.merge: merge(a)
    else: truth(a) if a.checkpoint else timing(a)


if __name__ == "__main__":
    main()
