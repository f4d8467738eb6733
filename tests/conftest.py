"""Test-wide settings. Offline machines keep the pretrained helper networks in a weights folder ($GEO3D_WEIGHTS);
the project's machines have one beside the checkout (../shared/weights), which the tests use when nothing else is set.
Elsewhere the networks come by their libraries' usual download."""
import os
from pathlib import Path

_shared = Path(__file__).resolve().parents[1].parent / "shared" / "weights"
if "GEO3D_WEIGHTS" not in os.environ and _shared.is_dir():
    os.environ["GEO3D_WEIGHTS"] = str(_shared)
os.environ.setdefault("MPLBACKEND", "Agg")
