"The training benchmark's variants: the forms it times exist under the names the device scripts ask for."
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_train_variants():
    out = subprocess.run([sys.executable, "bench/bench_train.py", "--forms", "--compile", "--reuse", "--bf16", "--only", "K=9"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and "unknown variant(s) ['K=9']" in out.stderr
    names = ("K=1 pool", "K=1 cl", "K=3 fused", "K=3 pool fused cl", "K=3 fused recompute", "K=1 compile", "K=3 compile",
             "K=1 reuse", "K=3 reuse", "K=1 reuse cl", "K=3 reuse cl", "K=1 reuse compile cl", "K=3 reuse compile cl",
             "K=1 bf16", "K=3 bf16", "K=1 reuse bf16", "K=3 reuse bf16", "K=3 reuse bf16 cl")
    for name in names: assert repr(name) in out.stderr, name
    script = (ROOT / "tools" / "gpu_session").read_text()       # the device session asks for variants that exist
    asked = script.split('PAPER_VARIANTS:-')[1].split('}')[0].split(",")
    assert set(asked) <= set(names) | {"K=1", "K=3"}, asked


def test_learn3d_band_confusion():
    "learn3d's bands count what each class is read as, consistently with its per-class accuracy, for G and the truth."
    import torch
    sys.path.insert(0, str(ROOT / "bench"))
    from learn3d import band_accuracy, misreadings, BANDS
    from geo3d.config import TOY
    from geo3d.generator import TriplaneGenerator, preset
    torch.manual_seed(0)
    G = TriplaneGenerator(preset("tiny", n_classes=10, **TOY)).eval()
    clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(10))           # a stand-in reader: any fixed function will do
    clf(torch.zeros(1, 1, 32, 32))
    out = band_accuracy(G, clf, n=20)
    assert set(out) == set(BANDS)
    for r in out.values():
        for pre, who in (("", "generated"), ("truth_", "truth")):
            m = torch.tensor(r[pre + "read_as"])
            assert m.shape == (10, 10) and (m.sum(1) == 2).all()                      # 20 objects, two of each class
            assert torch.allclose(m.diag() / 2.0, torch.tensor(r[pre + "per_class"]))
            assert abs(m.diag().sum().item() / 20 - r[who]) < 1e-6
    assert misreadings([[1, 1], [0, 5]], ["a", "b"]) == "none"                        # a tie with the right class is no misreading
    assert misreadings([[0, 3], [0, 5]], ["a", "b"]) == "a->b 3/3"


def test_solids_counts_pieces_and_floaters():
    "bench/solids.py: a second piece above the centre is a floater and a lid; true shapes are one piece; bad class names are refused."
    import numpy as np
    import torch
    sys.path.insert(0, str(ROOT / "bench"))
    from solids import lattice, solid_stats, true_solids, generated_solids, spread, summarise
    from geo3d.config import TOY
    from geo3d.generator import TriplaneGenerator, preset
    heights = np.linspace(-0.4, 0.4, 10)
    solid = np.zeros((10, 10, 10), bool)
    solid[2:8, 1:4, 2:8] = True                                     # the body, low
    solid[4:6, 7:9, 4:6] = True                                     # 8 voxels wholly above y = 0
    s = solid_stats(solid, heights, min_voxels=8)
    assert (s["voxels"], s["main"], s["floater"], s["above"]) == (116, 108, True, True)
    assert s["profile"].tolist() == [0, 36, 36, 36, 0, 0, 0, 4, 4, 0]
    assert not solid_stats(solid, heights, min_voxels=9)["floater"]  # too small to count
    solid[4:6, 4:7, 4:6] = True                                     # joined to the body: one piece
    assert not solid_stats(solid, heights, min_voxels=1)["floater"]
    other = np.zeros_like(solid); other[0:2, 0:2, 0:2] = True      # disjoint from it
    assert spread([solid, solid, solid]) == 0.0 and spread([solid, other]) == 1.0 and spread([solid]) == 0.0
    half = solid.copy(); half[:, :, 5:] = False                     # a part of it
    assert abs(spread([solid, half]) - (1 - half.sum() / solid.sum())) < 1e-6
    same = [solid_stats(x, heights, 8) for x in (solid, solid)]      # one size: no size spread; 1 and 3 voxels: std 1 / mean 2
    assert summarise(same, [solid, solid])["size_spread"] == 0.0
    dots = [np.zeros_like(solid) for _ in range(2)]; dots[0][0, 0, 0] = True; dots[1][0, 0, :3] = True
    assert summarise([solid_stats(x, heights, 8) for x in dots], dots)["size_spread"] == 0.5
    pts, hs = lattice(16)
    for name in ("ring", "house"):                                  # true shapes: one piece each, on the floor
        from geo3d.synthetic import CLASS_NAMES
        t = true_solids(CLASS_NAMES.index(name), 3, pts, hs, min_voxels=4)
        assert t["objects"] == 3 and t["with_floater"] == 0 and t["empty"] == 0 and t["main_share"] == 1.0
        assert sum(t["profile"][:8]) > sum(t["profile"][8:])        # more of it below the centre than above
        assert 0 < t["spread"] < 1 and t["size_spread"] > 0.05       # true objects of a class differ, and overlap
    torch.manual_seed(0)
    G = TriplaneGenerator(preset("tiny", n_classes=10, **TOY)).eval()
    g = generated_solids(G, 2, 2, pts, hs, min_voxels=4)
    assert g["objects"] == 2 and len(g["profile"]) == 16 and 0 <= g["with_floater"] <= 2
    out = subprocess.run([sys.executable, "bench/solids.py", "nowhere", "--classes", "ring,teapot"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode != 0 and "unknown class(es) ['teapot']" in out.stderr


def test_bench_train_tables_k1_first_whatever_the_order_asked():
    "Every ratio is to the K=1 step, so K=1 is timed and tabled first even when --only names it last (it raised KeyError)."
    out = subprocess.run([sys.executable, "bench/bench_train.py", "--toy", "--batch", "4", "--steps", "1", "--rounds", "1",
                          "--only", "K=3,K=1"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    table = out.stdout.split("(median)")[1].strip().splitlines()
    assert table[0].startswith("K=1 ") and "(1.00x its K=1 step)" in table[0] and table[1].startswith("K=3 "), out.stdout
