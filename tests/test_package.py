"""Packaging and command-line checks that do not belong in a notebook."""
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Data flows one way (the layout in nbs/index.ipynb): a module may import modules listed before it and the side rooms; side rooms import no
# module of ORDER (only other side rooms).
ORDER = ["rng", "camera", "triplane", "decoder", "renderer", "backbone", "generator", "discriminator", "loss", "imageset",
         "synthetic", "dataset_tool", "checkpoint", "geometry", "metrics", "config", "distributed", "step", "train", "generate",
         "viewer", "eval", "inversion", "invert", "ablation", "demo"]
SIDE_ROOMS = ["viz", "shapes", "export", "pretrained"]


def geo3d_imports(module):
    tree = ast.parse((ROOT / "geo3d" / f"{module}.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:                    # exported code: from .camera import ..
            names |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("geo3d."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "geo3d":
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("geo3d.")}
    return names


MODULES = sorted(p.stem for p in (ROOT / "geo3d").glob("*.py") if not p.stem.startswith("_"))


def test_every_module_is_placed():
    "Every module is in the one-way order or a side room, so the import drawing below covers all of them."
    assert set(MODULES) == set(ORDER) | set(SIDE_ROOMS), set(MODULES) ^ (set(ORDER) | set(SIDE_ROOMS))


def test_import_clean():
    code = "import geo3d, " + ", ".join(f"geo3d.{m}" for m in MODULES) + "; print(geo3d.__version__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() and not out.stderr.strip(), out.stderr


PLOTTING = ("matplotlib", "plotly", "k3d", "ipywidgets")


CHECK_IMPORTS = """
import subprocess, sys
for m in sys.argv[1:]:
    code = "import sys, geo3d." + m + "; print(sorted({k.split('.')[0] for k in sys.modules} & set(sys.argv[1:])))"
    r = subprocess.run([sys.executable, "-c", code, *PLOTTING], capture_output=True, text=True)
    print(m, r.stdout.strip() or "error: " + r.stderr.strip()[-300:].replace(chr(10), " "))
"""


def test_no_plotting_library_on_import(tmp_path):
    "Training, checkpoints, metrics and mesh export do not load plotting libraries: viz imports them where they are used."
    script = tmp_path / "check.py"
    script.write_text(CHECK_IMPORTS.replace("*PLOTTING", ", ".join(repr(m) for m in PLOTTING)))
    modules = ["train", "checkpoint", "export", "generate", "metrics"]
    out = subprocess.run([sys.executable, str(script), *modules], capture_output=True, text=True, check=True).stdout
    loaded = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert loaded == {m: "[]" for m in modules}, loaded


def test_tools_import_no_training_code():
    "geo3d_generate and the viewer read checkpoints through geo3d.checkpoint, never through the training loop."
    for m in ("generate", "viewer", "eval"):
        assert not geo3d_imports(m) & {"train", "config", "distributed"}, (m, geo3d_imports(m))


def test_modules_are_small():
    "One idea per module: none grows past 300 lines (generated index aside)."
    sizes = {m: len((ROOT / "geo3d" / f"{m}.py").read_text().splitlines()) for m in MODULES}
    assert max(sizes.values()) < 300, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_the_import_parser_sees_relative_imports():
    "geo3d/*.py are exported with relative imports (`from .loss import ...`); at 9c727ac the parser saw none of them."
    assert {"step", "config", "checkpoint", "rng"} <= geo3d_imports("train") and {"generator", "loss"} <= geo3d_imports("step")


def test_every_module_has_its_notebook():
    exported = {p.stem for p in (ROOT / "geo3d").glob("*.py") if not p.stem.startswith("_")}
    declared = set()
    for nb in (ROOT / "nbs").glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            declared |= set(re.findall(r"^#\|\s*default_exp\s+(\S+)", "".join(cell["source"]), re.M))
    assert exported == declared, f"modules without a notebook: {exported - declared}; notebooks not exported: {declared - exported}"


@pytest.mark.parametrize("module", ORDER + SIDE_ROOMS)
def test_data_flows_one_way(module):
    allowed = set(ORDER[:ORDER.index(module)]) | set(SIDE_ROOMS) if module in ORDER else set(SIDE_ROOMS) - {module}
    assert geo3d_imports(module) <= allowed, f"geo3d.{module} imports {geo3d_imports(module) - allowed}"


def run(args, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_demo_console_script_writes_its_files(tmp_path):
    r = run(["geo3d_demo", "--out", "out", "--views", "2", "--resolution", "24", "--planes", "16",
             "--steps", "20", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    for f in ["views.png", "scene.html", "triplane.pt", "summary.json", "views/rgb_01.png", "views/depth_00.png"]:
        assert (tmp_path / "out" / f).stat().st_size > 0, f
    assert "scene.html" in r.stdout and "views.png" in r.stdout
    import torch
    ckpt = torch.load(tmp_path / "out" / "triplane.pt", weights_only=True)
    assert ckpt["planes"].shape == (1, 3, 32, 16, 16)


def test_demo_runs_as_module_and_rejects_bad_arguments(tmp_path):
    r = run([sys.executable, "-m", "geo3d.demo", "--out", "m", "--views", "0"], tmp_path)
    assert r.returncode != 0 and "views >= 1" in (r.stderr + r.stdout)
    assert not (tmp_path / "m" / "views.png").exists()
    r = run([sys.executable, "-m", "geo3d.demo", "--help"], tmp_path)
    assert r.returncode == 0 and "--resolution" in r.stdout


def test_invert_runs_as_module_and_refuses_before_writing(tmp_path):
    r = run([sys.executable, "-m", "geo3d.invert", "--help"], tmp_path)
    assert r.returncode == 0 and "--stage1_steps" in r.stdout and "--camera_search" in r.stdout, r.stderr
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    r = run(["geo3d_invert", "a.jpg", "--checkpoint", "nowhere"], tmp_path)
    assert r.returncode == 1 and "geo3d_invert: no checkpoint at nowhere" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_wheel_ships_the_class_list_and_licence(tmp_path):
    "A non-editable install (a wheel) carries data/imagenet100.txt as package data and the Apache-2.0 licence."
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(tmp_path / "whl")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    import zipfile
    wheel = next((tmp_path / "whl").glob("geo3d-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"geo3d/lists/imagenet100.txt", "geo3d/lists/imagenet1k.txt", "geo3d/lists/imagenet_groups.txt"} <= set(names) and any(n.endswith("licenses/LICENSE") for n in names), names
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(tmp_path / "site"), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    code = ("import geo3d, geo3d.dataset_tool; print(geo3d.__file__); print(len(geo3d.dataset_tool.read_class_list('imagenet100')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")))
    assert r.returncode == 0, r.stderr[-3000:]
    where, n = r.stdout.split()
    assert where.startswith(str(tmp_path / "site")) and int(n) == 100
    assert "Apache License" in (ROOT / "LICENSE").read_text()
