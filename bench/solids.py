"""The solids of generated objects, class by class, beside the true shapes': how many pieces an object falls into, and
how wide it is at each height. The geometry accuracy says whether the classifier names an object; this says what is
wrong with the shape when it does not (a floating lid over a ring, a ball with a waist, a mushroom without a stem).

For each class, `--objects` objects of each run's EMA generator and as many true objects (`geo3d.geometry.truth_field`)
are sampled on a `--grid`^3 lattice inside the box, without the walls' shell that the geometry scores ignore
(`geo3d.geometry.WALL`), and cut at the mesh level (`geo3d.geometry.LEVEL`). The solids are the 6-connected pieces
(`scipy.ndimage.label`). An object has a *floater* when a second piece holds at least `--min_voxels` voxels; a floater
wholly above the centre (y > 0, y is up) is counted again as *above* (the ring's lid of notebook 25, round 20). The
profile is the object's mean horizontal area (voxels) at each height, every second height printed. The *spread* says
how unlike one another a class's objects are (the mean Jaccard distance, 1 - IoU, over pairs of their solids): one
shape repeated gives 0, the truth's variety gives its own figure to compare with. Shapes that are merely ragged differ
too, so the *size spread* says whether the objects differ in size, as true ones do: the coefficient of variation
(std / mean) of their volumes.

    python bench/solids.py runs/laptop                                  # every class, against the truth
    python bench/solids.py runs/a runs/b --classes ring,ball --json solids.json
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from geo3d import rng
from geo3d.checkpoint import load_generator
from geo3d.decoder import density_activation
from geo3d.geometry import LEVEL, WALL, truth_field
from geo3d.synthetic import CLASS_NAMES


def lattice(grid, wall=WALL, box=1.0):
    "Points `(1, grid^3, 3)` of a lattice inside the box less its walls' shell, and the heights of its rows."
    h = box / 2 - wall * box
    lin = torch.linspace(-h, h, grid)
    x, y, z = torch.meshgrid(lin, lin, lin, indexing="ij")
    return torch.stack([x, y, z], -1).view(1, -1, 3), lin.numpy()


def solid_stats(solid, heights, min_voxels):
    "One object's solid `(G, G, G)` bool (axis 1 is y): its pieces, largest first, whether it has a floater / one above, its area per height."
    labels, n = ndimage.label(solid)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-sizes)
    floaters = [int(j) + 1 for j in order[1:] if sizes[j] >= min_voxels]
    above = [j for j in floaters if heights[np.nonzero(labels == j)[1]].min() > 0]
    return dict(voxels=int(solid.sum()), main=int(sizes[order[0]]) if n else 0, floater=bool(floaters), above=bool(above),
                profile=solid.sum((0, 2)).astype(float))


def spread(solids):
    "How unlike each other a class's objects are: the mean over pairs of the Jaccard distance (1 - IoU) of their solids; 0 when all are one shape."
    if len(solids) < 2: return 0.0
    x = np.stack([s.ravel() for s in solids]).astype(np.float32)
    inter = x @ x.T
    union = x.sum(1)[:, None] + x.sum(1)[None, :] - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)    # two empty objects are the same shape
    return float(1 - iou[np.triu_indices(len(x), 1)].mean())


def summarise(stats, solids):
    "Per-class figures from the objects' `solid_stats` and their solids (for the spread)."
    volumes = np.array([s["voxels"] for s in stats], float)
    return dict(objects=len(stats), spread=round(spread(solids), 3), size_spread=round(float(volumes.std() / max(volumes.mean(), 1.0)), 3),
                with_floater=sum(s["floater"] for s in stats), floater_above=sum(s["above"] for s in stats),
                empty=sum(s["voxels"] == 0 for s in stats), median_voxels=int(np.median(volumes)),
                main_share=round(float(np.mean([s["main"] / max(s["voxels"], 1) for s in stats])), 3),
                profile=[round(float(a), 1) for a in np.mean([s["profile"] for s in stats], 0)])


@torch.no_grad()
def generated_solids(G, cls, n, pts, heights, min_voxels, seed=5):
    "Per-class figures of `n` objects of class `cls` from generator `G` (fixed latents: the same objects for every run of one config)."
    z = rng.randn(n, G.cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    planes = G.synthesize_planes(G.map(z, torch.full((n,), cls)))
    g = len(heights)
    solids = [(G.sample_points(planes[i:i + 1], pts)["sigma"] >= LEVEL).view(g, g, g).numpy() for i in range(n)]
    return summarise([solid_stats(s, heights, min_voxels) for s in solids], solids)


@torch.no_grad()
def true_solids(cls, n, pts, heights, min_voxels, seed=5):
    "The same figures for `n` true objects of class `cls`."
    raw, _ = truth_field(cls, n, generator=torch.Generator().manual_seed(seed))(pts.expand(n, -1, -1))
    g = len(heights)
    solids = [(density_activation(r) >= LEVEL).view(g, g, g).numpy() for r in raw]
    return summarise([solid_stats(s, heights, min_voxels) for s in solids], solids)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders or checkpoint files (trained on the embedded synthetic set)")
    p.add_argument("--classes", default="", help="comma-separated class names (default: all ten)")
    p.add_argument("--objects", type=int, default=12, help="objects per class and run (default 12)")
    p.add_argument("--grid", type=int, default=40, help="lattice points per side (default 40)")
    p.add_argument("--min_voxels", type=int, default=100, help="the least voxels a second piece needs to count as a floater")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    names = [c.strip() for c in a.classes.split(",") if c.strip()] or CLASS_NAMES
    unknown = [c for c in names if c not in CLASS_NAMES]
    if unknown: sys.exit(f"solids.py: unknown class(es) {unknown}; the synthetic set's classes are {CLASS_NAMES}")
    if a.objects < 1 or a.grid < 8: sys.exit("solids.py: --objects must be >= 1 and --grid >= 8")
    pts, heights = lattice(a.grid)
    out = dict(settings=dict(objects=a.objects, grid=a.grid, min_voxels=a.min_voxels, level=LEVEL, wall=WALL), classes={})
    gens = {}
    for run in a.runs:
        try: G = load_generator(run)
        except (FileNotFoundError, ValueError) as e: sys.exit(f"solids.py: {e}")
        if G.cfg.n_classes != len(CLASS_NAMES):
            sys.exit(f"solids.py: {run} was not trained on the embedded synthetic set ({G.cfg.n_classes} classes)")
        gens[run] = G
    rows = [f"y: {' '.join(f'{y:+.2f}' for y in heights[::2])}"]
    for name in names:
        cls = CLASS_NAMES.index(name)
        res = {"truth": true_solids(cls, a.objects, pts, heights, a.min_voxels)}
        res.update({run: generated_solids(G, cls, a.objects, pts, heights, a.min_voxels) for run, G in gens.items()})
        out["classes"][name] = res
        rows.append(f"\n{name}")
        for who, r in res.items():
            rows.append(f"  {str(who)[-28:]:28s} floaters {r['with_floater']:2d}/{r['objects']} (above {r['floater_above']:2d}), "
                        f"empty {r['empty']:2d}, median {r['median_voxels']:5d} voxels, main piece {r['main_share']:.2f}, "
                        f"spread {r['spread']:.2f}, size spread {r['size_spread']:.2f}")
            rows.append(f"  {'':28s} area by height: {' '.join(f'{v:5.0f}' for v in r['profile'][::2])}")
    print("\n".join(rows))
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
