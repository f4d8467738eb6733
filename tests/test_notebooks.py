"""Every notebook in nbs/ is a test: its cells assert what they teach. Cells flagged with a test flag from
settings.ini (`#| slow`, `#| gpu`) are skipped here unless GEO3D_TEST_FLAGS names them."""
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from nbdev.test import test_nb as run_notebook

NBS = Path(__file__).resolve().parents[1] / "nbs"
NOTEBOOKS = sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")))
FLAGS = ["slow", "gpu"]


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """Each notebook runs as `tools/execute` runs it, in a process of its own: its temporary files (and those of the
    commands it starts) go to a folder of its own, removed after it, and what it sets in os.environ is undone. Notebooks
    run in this one process, so without it they left about 450 MB in /tmp per test run and saw each other's settings."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    saved = dict(os.environ)
    yield tmp_path
    os.environ.clear(); os.environ.update(saved)
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb, scratch):
    force = os.environ.get("GEO3D_TEST_FLAGS", "").split()
    os.environ.setdefault("MPLBACKEND", "Agg")
    t0 = time.time()
    ok, _ = run_notebook(nb, skip_flags=[f for f in FLAGS if f not in force], force_flags=force, basepath=NBS)
    print(f"{nb.name}: {time.time() - t0:.1f}s")
    assert ok, f"{nb.name} failed; run it in Jupyter to see the failing cell"
