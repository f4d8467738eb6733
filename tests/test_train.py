"""Training and data tools from the command line: data-parallel equivalence, resume after a stop, bad inputs."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["--batch", "8", "--synthetic_per_class", "4", "--deterministic_render", "--quiet", "--snapshot_kimg", "1"]


def run(args, tmp_path, timeout=600, **env):
    scratch = tmp_path / "tmp"; scratch.mkdir(exist_ok=True)       # the commands' temporary files (torchrun's logs) go with tmp_path
    e = dict(os.environ, MPLBACKEND="Agg", GEO3D_CACHE=str(tmp_path / "cache"), TMPDIR=str(scratch), **env)
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=e, timeout=timeout)


def weights(run_dir):
    return load_file(str(run_dir / "checkpoint.safetensors"))


def max_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_two_process_gloo_run_equals_single_process(tmp_path):
    # Adam's first steps move every weight by about +-lr whatever the gradient's size, so gradient entries that are
    # float-rounding noise (summed in a different order on 2 processes) would flip sign and differ by 2*lr; a larger
    # epsilon damps updates of such entries. Without gradient averaging the runs would differ by ~lr in real entries.
    TRAIN = globals()["TRAIN"] + ["--adam_eps", "1e-4", "--lr_rampdown", "0.5"]   # the ramp too: rank 0 sets it for all
    single = run([sys.executable, "-m", "geo3d.train", "--out", "single", "--steps", "3", *TRAIN], tmp_path)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "geo3d.train",
               "--out", "ddp", "--steps", "3", *TRAIN], tmp_path)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert "on 2 process(es)" in ddp.stdout
    a, b = weights(tmp_path / "single"), weights(tmp_path / "ddp")
    diff = max_diff(a, b)
    print(f"largest weight difference, 1 vs 2 processes after 3 steps: {diff:.2e}")
    assert diff < 1e-4
    # and the runs did train: the weights moved away from a fresh initialisation
    init = run([sys.executable, "-m", "geo3d.train", "--out", "init", "--steps", "0", *TRAIN], tmp_path)
    assert init.returncode == 0, init.stderr[-3000:]
    assert max_diff(a, weights(tmp_path / "init")) > 1e-3


def test_cli_stop_and_resume_equals_uninterrupted(tmp_path):
    full = run([sys.executable, "-m", "geo3d.train", "--out", "full", "--steps", "4", *TRAIN], tmp_path)
    assert full.returncode == 0, full.stderr[-3000:]
    part = run(["geo3d_train", "--out", "part", "--steps", "2", *TRAIN], tmp_path)
    assert part.returncode == 0, part.stderr[-3000:]
    assert "--resume" in part.stdout
    more = run(["geo3d_train", "--resume", "part", "--steps", "4", "--quiet"], tmp_path)
    assert more.returncode == 0, more.stderr[-3000:]
    assert max_diff(weights(tmp_path / "full"), weights(tmp_path / "part")) < 1e-6


def test_train_cli_bad_input(tmp_path):
    r = run(["geo3d_train", "--resume", "no_such_run"], tmp_path)
    assert r.returncode != 0 and "not found" in r.stderr
    r = run(["geo3d_train", "--data", "no_such_set"], tmp_path)
    assert r.returncode != 0 and "not a geo3d image set" in r.stderr
    r = run(["geo3d_train", "--preset", "huge"], tmp_path)
    assert r.returncode != 0 and "unknown preset" in r.stderr


def bad_tree(root):
    from PIL import Image
    rng = np.random.default_rng(0)
    good = lambda: Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8))
    for c in ("cat", "dog", "empty"): (root / c).mkdir(parents=True)
    for i in range(3): good().save(root / "cat" / f"{i}.jpg")
    good().convert("CMYK").save(root / "dog" / "cmyk.jpg")
    Image.fromarray(rng.integers(0, 65535, (40, 40)).astype(np.uint16)).save(root / "dog" / "deep.png")
    data = (root / "cat" / "0.jpg").read_bytes()
    (root / "dog" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "dog" / "readme.txt").write_text("hello")


def test_dataset_cli_reports_and_skips_bad_files(tmp_path):
    bad_tree(tmp_path / "src")
    r = run(["geo3d_dataset", "src", "--out", "set", "--resolution", "32", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "5 images of 2 classes" in r.stdout and "corrupt or truncated: 1" in r.stdout and "not an image: 1" in r.stdout
    assert "converted CMYK: 1" in r.stdout and "converted 16-bit: 1" in r.stdout and "without a usable image (1): empty" in r.stdout
    from geo3d.imageset import ImageSet
    s = ImageSet.load(tmp_path / "set")
    assert s.class_names == ["cat", "dog"] and s.images.shape == (5, 32, 32, 3)
    r = run([sys.executable, "-m", "geo3d.dataset_tool", "src"], tmp_path)
    assert r.returncode != 0 and "--out is required" in r.stderr
    r = run(["geo3d_dataset", "nowhere", "--out", "x"], tmp_path)
    assert r.returncode != 0 and "does not exist" in r.stderr


# --- nothing is lost: existing folders, damaged checkpoints, permissions (issue: data loss at 9c727ac) ---------------

def test_train_refuses_a_folder_that_holds_a_run_or_files(tmp_path):
    first = run(["geo3d_train", "--out", "r", "--steps", "1", *TRAIN], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    before = {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()}
    again = run(["geo3d_train", "--out", "r", "--steps", "1", *TRAIN], tmp_path)
    assert again.returncode != 0 and "already holds a training run" in again.stderr and "--resume r" in again.stderr
    assert {p: p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()} == before       # untouched
    (tmp_path / "mine").mkdir(); (tmp_path / "mine" / "notes.txt").write_text("mine")
    r = run(["geo3d_train", "--out", "mine", "--steps", "1", *TRAIN], tmp_path)
    assert r.returncode != 0 and "not a geo3d run" in r.stderr and "--overwrite" in r.stderr
    (tmp_path / "afile").write_text("x")
    r = run(["geo3d_train", "--out", "afile", "--steps", "1", *TRAIN], tmp_path)
    assert r.returncode != 0 and "is a file" in r.stderr and (tmp_path / "afile").read_text() == "x"
    # --overwrite starts over, removing only what a run writes
    (tmp_path / "r" / "notes.txt").write_text("keep me")
    r = run(["geo3d_train", "--out", "r", "--steps", "1", "--overwrite", *TRAIN], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "r" / "notes.txt").read_text() == "keep me"
    assert len((tmp_path / "r" / "stats.jsonl").read_text().splitlines()) == 1      # a fresh log, not appended


def test_resume_falls_back_to_the_newest_good_checkpoint(tmp_path):
    args = [*TRAIN, "--snapshot_kimg", "0.008", "--keep_checkpoints", "2"]     # a checkpoint every step, 2 kept
    r = run(["geo3d_train", "--out", "r", "--steps", "3", *args], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    older = sorted((tmp_path / "r" / "checkpoints").glob("*.safetensors"))
    assert [p.name for p in older] == ["step-00000002.safetensors"]                   # steps 3 (top) and 2 kept
    ck = tmp_path / "r" / "checkpoint.safetensors"
    assert oct(ck.stat().st_mode & 0o777) == oct((tmp_path / "r" / "config.json").stat().st_mode & 0o777)   # umask, not 0600
    ck.write_bytes(ck.read_bytes()[:1000])                                             # damaged newest
    r = run(["geo3d_train", "--resume", "r", "--steps", "4", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    said = r.stdout + r.stderr
    assert "resuming from the older checkpoint" in said and "(step 2)" in said, said[-2000:]
    assert load_file(str(ck))["G.mapping.layers.0.weight"].shape                     # a good one again at the top
    from geo3d.checkpoint import checkpoint_step
    assert checkpoint_step(ck) == 4


def test_dataset_never_destroys_an_existing_folder(tmp_path):
    bad_tree(tmp_path / "src")
    (tmp_path / "mine").mkdir(); (tmp_path / "mine" / "thesis.tex").write_text("years of work")
    r = run(["geo3d_dataset", "src", "--out", "mine", "--resolution", "32", "--quiet"], tmp_path)
    assert r.returncode != 0 and "not an image set" in r.stderr
    r = run(["geo3d_dataset", "src", "--out", "mine", "--resolution", "32", "--quiet", "--overwrite"], tmp_path)
    assert r.returncode != 0 and (tmp_path / "mine" / "thesis.tex").read_text() == "years of work"
    (tmp_path / "afile").write_text("x")
    r = run(["geo3d_dataset", "src", "--out", "afile", "--resolution", "32", "--quiet"], tmp_path)
    assert r.returncode != 0 and "is a file" in r.stderr and (tmp_path / "afile").read_text() == "x"
    r = run(["geo3d_dataset", "src", "--out", "set", "--resolution", "32", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    r = run(["geo3d_dataset", "src", "--out", "set", "--resolution", "16", "--quiet"], tmp_path)
    assert r.returncode != 0 and "--overwrite" in r.stderr
    r = run(["geo3d_dataset", "src", "--out", "set", "--resolution", "16", "--quiet", "--overwrite"], tmp_path)
    assert r.returncode == 0, r.stderr
    from geo3d.imageset import ImageSet
    assert ImageSet.load(tmp_path / "set").resolution == 16


def test_dataset_skips_a_decompression_bomb_and_applies_exif_orientation(tmp_path):
    from PIL import Image
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    Image.new("RGB", (64, 64), (200, 10, 10)).save(src / "a" / "ok.png")
    # a small PNG whose header claims 20000 x 20000 pixels: a 1-bit image compresses to a few KB
    Image.new("1", (20000, 20000)).save(src / "a" / "bomb.png")
    assert (src / "a" / "bomb.png").stat().st_size < 100_000
    # a phone photo: stored landscape (left half red, right half blue), EXIF says "rotate 90 clockwise" (orientation 6)
    im = Image.new("RGB", (96, 64), (0, 0, 255)); im.paste((255, 0, 0), (0, 0, 48, 64))
    exif = Image.Exif(); exif[0x0112] = 6
    im.save(src / "a" / "phone.jpg", exif=exif, quality=95)
    r = run(["geo3d_dataset", "src", "--out", "set", "--resolution", "32", "--quiet"], tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2 images of 1 class" in r.stdout and "too large: 1" in r.stdout, r.stdout
    from geo3d.imageset import ImageSet
    s = ImageSet.load(tmp_path / "set")
    phone = s.images[1].astype(int)          # files in name order: ok.png, phone.jpg
    # upright, the red half is on top and the blue half below; sideways it would be left / right
    assert phone[:12, :, 0].mean() > 200 and phone[-12:, :, 2].mean() > 200, (phone[:12, :, 0].mean(), phone[-12:, :, 2].mean())
