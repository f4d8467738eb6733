"""geo3d_generate from the command line: random weights and a trained checkpoint, files and page, bad input."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import trimesh


def run(args, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", GEO3D_CACHE=str(tmp_path / "cache"))
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)


def test_generate_from_a_checkpoint_writes_meshes_and_page(tmp_path):
    r = run(["geo3d_train", "--out", "run", "--steps", "1", "--batch", "4", "--synthetic_per_class", "2", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run(["geo3d_generate", "--checkpoint", "run", "--classes", "ball,2", "--seeds", "0-1", "--views", "3",
             "--mesh_resolution", "48", "--frames", "4", "--out", "gen", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((tmp_path / "gen" / "summary.json").read_text())
    assert [m["name"] for m in s["models"]] == ["ball_seed0", "ball_seed1", "ring_seed0", "ring_seed1"]
    for m in s["models"]:
        d = Path(m["folder"]) if Path(m["folder"]).is_absolute() else tmp_path / m["folder"]
        assert (d / "views.png").stat().st_size > 0 and (d / "turntable.gif").stat().st_size > 0
        mesh = trimesh.load(d / "mesh.glb", force="mesh")
        assert len(mesh.faces) == m["faces"] > 0
    page = (tmp_path / "gen" / "index.html").read_text()
    assert "mesh3d" in page.lower() and len(page) > 1_000_000          # plotly.js embedded: offline
    assert "open" in r.stdout and "index.html" in r.stdout


def test_generate_bad_input(tmp_path):
    r = run([sys.executable, "-m", "geo3d.generate", "--classes", "unicorn", "--out", "g", "--quiet"], tmp_path)
    assert r.returncode != 0 and "is not a class" in r.stderr
    r = run(["geo3d_generate", "--checkpoint", "missing_run", "--out", "g"], tmp_path)
    assert r.returncode != 0 and "no checkpoint" in r.stderr


def test_generate_never_writes_over_other_files_and_replaces_its_own_only_when_asked(tmp_path):
    small = ["--classes", "1", "--views", "2", "--mesh_resolution", "32", "--frames", "2", "--quiet"]
    (tmp_path / "mine").mkdir(); (tmp_path / "mine" / "index.html").write_text("<html>my own page</html>")
    for flags in ([], ["--overwrite"]):                              # someone's folder: refused, untouched, with or without the flag
        r = run(["geo3d_generate", "--out", "mine", *small, *flags], tmp_path)
        assert r.returncode != 0 and "did not write" in r.stderr, r.stderr[-2000:]
    assert (tmp_path / "mine" / "index.html").read_text() == "<html>my own page</html>"
    assert run(["geo3d_generate", "--out", "gen", "--seeds", "0,1", *small], tmp_path).returncode == 0
    r = run(["geo3d_generate", "--out", "gen", *small], tmp_path)     # its own earlier output: only with --overwrite
    assert r.returncode != 0 and "--overwrite" in r.stderr
    assert sorted(p.name for p in (tmp_path / "gen").iterdir() if p.is_dir()) == ["class1_seed0", "class1_seed1"]
    r = run(["geo3d_generate", "--out", "gen", "--overwrite", *small, "--classes", "1,class1"], tmp_path)   # one class, named twice
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "gen").iterdir() if p.is_dir()) == ["class1_seed0"]   # replaced, not merged
    s = json.loads((tmp_path / "gen" / "summary.json").read_text())
    assert s["tool"] == "geo3d_generate" and Path(s["models"][0]["folder"]) == Path("gen") / "class1_seed0"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no partial or old folders left
    r = run(["geo3d_generate", "--out", "g2", "--seeds", "3-1", *small], tmp_path)
    assert r.returncode != 0 and "--seeds '3-1'" in r.stderr and not (tmp_path / "g2").exists()


def test_a_killed_generate_leaves_nothing_behind(tmp_path):
    "SIGTERM (kill, a cluster's time limit) mid-run: exit 143, and neither OUT nor the hidden folder it was writing is left."
    env = dict(os.environ, MPLBACKEND="Agg", GEO3D_CACHE=str(tmp_path / "cache"))
    p = subprocess.Popen(["geo3d_generate", "--seeds", "0-50", "--mesh_resolution", "64", "--frames", "4", "--out", "gen",
                          "--quiet"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while not any(tmp_path.glob(".gen.partial-*/*")):                 # a model is being written
        assert p.poll() is None and time.time() < deadline, f"no model was being written: {p.stderr.read()[-2000:] if p.poll() is not None else 'timeout'}"
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=120) == 143, p.stderr.read()[-2000:]
    assert not (tmp_path / "gen").exists() and not list(tmp_path.glob(".gen*"))
