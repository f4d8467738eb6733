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
