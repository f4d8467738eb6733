"""Random draws reach any device: the guard against the CUDA crash of geo3d_train's first step (a CPU torch.Generator
passed to samplers that drew on the tensors' device). CI has no GPU, so two checks stand in for one:
the source is read for random calls that take a generator outside geo3d.rng, and the samplers run on PyTorch's `meta`
device with a CPU generator while `GeneratorDeviceRule` enforces CUDA's rule (a generator draws on its own device)."""
import ast
from pathlib import Path

import pytest
import torch

from geo3d import rng
from geo3d.camera import sample_cameras, sample_multiview_cameras, sample_sphere
from geo3d.renderer import stratified_samples, sample_pdf, render_rays, RenderOptions
from geo3d.loss import regularizer_points
from geo3d.generator import TriplaneGenerator, preset

ROOT = Path(__file__).resolve().parents[1]
RANDOM = {"rand", "randn", "randint", "multinomial", "randperm", "normal", "bernoulli", "poisson", "rand_like", "randn_like",
          "randint_like", "normal_", "uniform_", "random_", "bernoulli_", "exponential_", "cauchy_", "geometric_", "log_normal_"}


def generator_calls(path):
    "(line, name) of every call of a random function that passes `generator=`."
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and any(k.arg == "generator" for k in node.keywords):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            if name in RANDOM and owner != "rng": yield node.lineno, name


def test_random_draws_with_a_generator_go_through_geo3d_rng():
    bad = [f"geo3d/{p.name}:{line} calls {name}(generator=...)" for p in sorted((ROOT / "geo3d").glob("*.py"))
           if p.name != "rng.py" for line, name in generator_calls(p)]
    assert not bad, "draw through geo3d.rng (it draws on the generator's device):\n" + "\n".join(bad)


def test_the_source_check_sees_the_old_bug(tmp_path):
    old = tmp_path / "renderer.py"       # the line that crashed on CUDA at 9c727ac
    old.write_text("u = torch.rand(*near.shape, n, generator=generator, device=near.device, dtype=near.dtype)\n")
    assert list(generator_calls(old)) == [(1, "rand")]


def test_the_rule_catches_a_foreign_generator():
    with rng.GeneratorDeviceRule():
        with pytest.raises(RuntimeError, match="device type for generator"):
            torch.rand(3, generator=torch.Generator(), device="meta")


META = torch.device("meta")


def test_samplers_take_a_cpu_generator_to_another_device():
    g = torch.Generator().manual_seed(0)
    with rng.GeneratorDeviceRule():
        assert sample_sphere(5, generator=g, device=META).device == META
        cams, K = sample_cameras(4, generator=g, device=META)
        assert cams.device == META and cams.shape == (4, 4, 4)
        cams, K = sample_multiview_cameras(4, 3, generator=g, device=META)
        assert cams.device == META and cams.shape == (4, 3, 4, 4)
        near, far = torch.zeros(2, 7, device=META), torch.ones(2, 7, device=META)
        assert stratified_samples(near, far, 8, generator=g).device == META
        t = torch.empty(2, 7, 9, device=META)
        assert sample_pdf(t, torch.empty(2, 7, 8, device=META), 5, generator=g).shape == (2, 7, 5)
        assert regularizer_points(2, 10, generator=g, device=META).shape == (2, 20, 3)
        G = TriplaneGenerator(preset("tiny", n_classes=3)).to(META)
        assert G.sample_z(2, generator=g).device == META
        assert G.sample_cameras(2, 3, generator=g).device == META


def test_whole_march_on_another_device():
    "The renderer's coarse and importance passes, ray box to quadrature, with a CPU generator and rays elsewhere."
    g = torch.Generator().manual_seed(0)
    def field(p):                     # a density ball and a colour, any device
        return 40 - 100 * p.norm(dim=-1), torch.sigmoid(p.repeat(1, 1, 2))
    o = torch.tensor([[x, 0.0, -2.7] for x in (-0.1, -0.05, 0.0, 0.05, 0.1, 0.15)])[None]
    d = torch.tensor([0.0, 0.0, 1.0]).expand(1, 6, 3)
    with rng.GeneratorDeviceRule():
        feats, depth, opacity = render_rays(field, o.to(META), d.to(META), RenderOptions(8, 8), generator=g)
    assert feats.device == META and feats.shape == (1, 6, 6) and depth.shape == (1, 6)
    ref = render_rays(field, o, d, RenderOptions(8, 8), generator=torch.Generator().manual_seed(0))
    assert ref[2].min() > 0.99       # and on the CPU the same call renders the ball

