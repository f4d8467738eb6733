"""geo3d_generate from the command line: random weights and a trained checkpoint, files and page, bad input."""
import json
import os
import subprocess
import sys
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
