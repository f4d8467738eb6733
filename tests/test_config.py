"""One configuration surface: every setting is a flag, booleans switch both ways, files and recipes, and each of the
paper's ablation configurations trains from the command line without a code edit."""
import json
import subprocess
import sys
from dataclasses import fields

import pytest

from geo3d.config import ABLATION, RECIPES, RunOptions, TrainConfig, parse_train_args, train_parser
from geo3d.generator import GeneratorConfig
from geo3d.loss import LossConfig


def flags():
    parser, _ = train_parser()
    return [o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"]


def test_every_setting_is_a_flag_once():
    names = [f.name for f in fields(TrainConfig) if f.name not in ("generator", "loss")]
    names += [f.name for f in fields(LossConfig)] + [f.name for f in fields(GeneratorConfig) if f.name != "n_classes"]
    names += [f.name for f in fields(RunOptions)]
    assert len(names) == len(set(names)), "a field name is used by two config classes"
    assert sorted(flags()) == sorted(f"--{n}" for n in names)


@pytest.mark.parametrize("off", ["False", "false", "no", "0", "off"])
def test_booleans_switch_both_ways(off):
    assert parse_train_args(["--auto_switch", off])[1].auto_switch is False
    assert parse_train_args(["--auto_switch", "True"])[1].auto_switch is True
    assert parse_train_args(["--bf16", off])[1].bf16 is False
    assert parse_train_args(["--extra_blocks", off])[1].generator == {"extra_blocks": False}


def test_config_file_and_precedence(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"batch": 12, "views": 2, "loss": {"r1_gamma": 3.0}, "generator": {"n_coarse": 16}}))
    _, cfg, changed = parse_train_args(["--recipe", "ablation-eg3d", "--config", str(p), "--views", "4"])
    assert (cfg.batch, cfg.views, cfg.loss.r1_gamma) == (12, 4, 3.0)
    assert cfg.generator == {**RECIPES["ablation-eg3d"].generator, "n_coarse": 16}
    assert {"batch", "views", "loss", "generator"} <= changed
    p.write_text("{not json")
    r = subprocess.run(["geo3d_train", "--config", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_help_shows_the_ablation_and_every_group():
    r = subprocess.run(["geo3d_train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for name in ABLATION: assert f"geo3d_train --recipe {name}" in r.stdout
    for text in ("--auto_switch [BOOL]", "--r1_gamma FLOAT", "--extra_blocks [BOOL]", "--plane_resolution INT", "--print_config"):
        assert text in r.stdout, text


def test_resume_refuses_changes_to_the_run(tmp_path):
    "A resumed run keeps its config; the refusal comes before any work (the run folder holds only its config here)."
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text(json.dumps({"train": json.loads(TrainConfig(batch=2).to_json())}))
    r = subprocess.run(["geo3d_train", "--resume", "r", "--batch", "4"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0 and "cannot change" in r.stderr and "batch" in r.stderr
    r = subprocess.run(["geo3d_train", "--resume", "r", "--recipe", "ablation-eg3d"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode != 0 and "--recipe starts a new run" in r.stderr


@pytest.mark.parametrize("name", ABLATION)
def test_each_ablation_configuration_trains_from_the_command_line(name, tmp_path, monkeypatch, capsys):
    "The paper's Table 2 rows, each one step of the tiny preset, from the command line alone."
    from geo3d.train import main
    monkeypatch.setenv("GEO3D_CACHE", str(tmp_path / "cache"))
    main(["--recipe", name, "--out", str(tmp_path / name), "--steps", "1", "--batch", "2", "--synthetic_per_class", "2",
          "--quiet"])
    run = tmp_path / name
    stored = json.loads((run / "config.json").read_text())
    want = RECIPES[name].generator_config(n_classes=10)
    for k in ("extra_blocks", "decoder_extra_layers", "aggregate"):
        assert stored["generator"][k] == getattr(want, k), (name, k)
    line = json.loads((run / "stats.jsonl").read_text().splitlines()[0])
    assert line["views"] == (3 if name == "ablation-multiview" else 1)
    assert (run / "checkpoint.safetensors").stat().st_size > 0
