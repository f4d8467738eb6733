"""The ablation runner's device path (bench/ablation.py): runs a time limit stopped at different points are compared at
the largest checkpoint step all of them kept, a run that kept none of it is left out by name, and the training command
carries the device, batch and time limit."""
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import ablation  # noqa: E402


def fake_run(root, name, steps):
    "A run folder whose checkpoints (newest at the top, older in checkpoints/) carry only their step."
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    for i, step in enumerate(sorted(steps, reverse=True)):
        path = run / "checkpoint.safetensors" if i == 0 else run / "checkpoints" / f"step-{step:08d}.safetensors"
        save_file({"w": torch.zeros(1)}, str(path), metadata={"step": str(step)})
    return run


def test_shared_step_is_the_largest_step_every_run_kept(tmp_path):
    a = fake_run(tmp_path, "a", [50, 100, 150, 163])
    b = fake_run(tmp_path, "b", [50, 100, 121])
    assert ablation.shared_step([a, b]) == 100


def test_a_run_that_kept_no_shared_step_is_left_out_by_name(tmp_path, capsys):
    a = fake_run(tmp_path, "a", [50, 100, 150])
    b = fake_run(tmp_path, "b", [50, 100, 150, 200])
    short = fake_run(tmp_path, "short", [37])                        # crashed before its first snapshot
    assert ablation.shared_step([a, short, b]) == 150
    assert "short kept no step that all others kept" in capsys.readouterr().out


def test_no_checkpoint_anywhere_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="kept a checkpoint"):
        ablation.shared_step([tmp_path / "empty"])


def test_the_training_command_carries_device_batch_and_time_limit(tmp_path):
    cmd = ablation.train_command(tmp_path / "r", "ablation-eg3d", "synthetic", 1, 8.0, {"plane_resolution": 32}, 1.6,
                                 device="cuda", batch=32, minutes=3.3)
    s = " ".join(cmd)
    for part in ("--device cuda", "--minutes 3.3", "--batch 32", "--seed 1", "--snapshot_kimg 1.6", "--plane_resolution=32"):
        assert part in s, part
    resume = ablation.train_command(fake_run(tmp_path, "r2", [10]), "ablation-eg3d", "synthetic", 1, 8.0, {}, 1.6,
                                    device="cpu", minutes=2.0)
    assert "--resume" in resume and "--minutes" in resume and "--batch" not in resume   # a resumed run keeps its config


def test_a_run_stopped_by_its_time_limit_is_finished_not_failed(tmp_path):
    run = fake_run(tmp_path, "r", [100])
    (run / "stats.jsonl").write_text('{"step": 100, "kimg": 0.8, "sec_per_step": 1.0}\n')
    assert not ablation.finished(run, 8.0) and not ablation.finished(run, 8.0, minutes=3.3)
    (run / ablation.TIME_LIMIT).write_text("{}")
    assert ablation.finished(run, 8.0, minutes=3.3)          # ended at its --minutes limit: done, scored as it is
    assert not ablation.finished(run, 8.0)                   # without a time limit it still has kimg to go
    assert ablation.finished(run, 0.8)


def test_training_fields_reach_every_run_and_bad_ones_are_refused(tmp_path):
    cmd = ablation.train_command(tmp_path / "r", "ablation-eg3d", "synthetic", 0, 8.0, {"background": 2}, 0.8,
                                 train={"g_lr": 0.005, "d_lr": 0.004})
    assert {"--background=2", "--g_lr=0.005", "--d_lr=0.004"} <= set(cmd)
    for bad in ('{"g_lrr": 0.005}', '{"background": 2}', "{g_lr: 1}"):   # a typo, a generator field, not JSON
        with pytest.raises(SystemExit, match="--train"):
            ablation.main(["--out", str(tmp_path / "abl"), "--train", bad, "--data", "synthetic", "--dry_run"])


def test_the_commit_named_by_the_device_session_wins_over_a_stale_git(monkeypatch):
    monkeypatch.setenv("GEO3D_COMMIT", "abc1234")
    assert ablation.git_commit() == "abc1234"
    monkeypatch.delenv("GEO3D_COMMIT")
    assert ablation.git_commit() not in ("abc1234", "")


def test_a_base_recipe_reaches_every_run_but_not_its_views_or_switch(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(ablation, "train_command", lambda *args: seen.append((args[1], args[5], args[-1])) or [])
    ablation.main(["--out", str(tmp_path / "abl"), "--base", "laptop", "--train", '{"g_lr": 0.001}', "--data", "synthetic",
                   "--seeds", "0", "--dry_run"])
    assert sorted(c for c, _, _ in seen) == sorted(ablation.ABLATION)
    for config, gen, train in seen:
        assert gen["background"] == 2 and gen["render_resolution"] == 16, gen
        assert train["g_lr"] == 0.001 and train["d_lr"] == 0.004 and train["d_reuse_fakes"] is True, train   # --train on top
        assert not {"views", "switch_kimg", "auto_switch"} & set(train), train      # each configuration keeps its own
    with pytest.raises(SystemExit, match="unknown recipe 'nope'"):
        ablation.main(["--out", str(tmp_path / "abl"), "--base", "nope", "--data", "synthetic", "--dry_run"])


def test_a_base_recipe_that_sets_best_view_leaves_the_multiview_row_the_papers_mean(tmp_path, monkeypatch):
    import dataclasses
    from geo3d import config
    laptop = config.RECIPES["laptop"]
    monkeypatch.setitem(config.RECIPES, "laptop", dataclasses.replace(laptop, loss=dataclasses.replace(laptop.loss, best_view=2.0)))
    assert config.recipe_changes("laptop")[1]["best_view"] == 2.0                 # the patched base does set it
    seen = []
    monkeypatch.setattr(ablation, "train_command", lambda *args: seen.append((args[1], args[-1])) or [])
    ablation.main(["--out", str(tmp_path / "abl"), "--base", "laptop", "--data", "synthetic", "--seeds", "0", "--dry_run"])
    assert len(seen) == len(ablation.ABLATION)
    for config_name, train in seen:
        assert "best_view" not in train and train["d_reuse_fakes"] is True, (config_name, train)


def test_provenance_names_the_cpu_model_from_cpuinfo(tmp_path):
    "Machines of one class differ in speed and numerics: the provenance names the CPU, not just 'x86_64'."
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\n"
                    "model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 amx_bf16\n\n")
    assert ablation.cpu_model(info) == "Intel(R) Xeon(R) Processor (family 6, model 207)"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\n")
    assert ablation.cpu_model(info) == "AMD EPYC 9B14"
    assert ablation.cpu_model(tmp_path / "missing") != ""                       # elsewhere: what platform knows
    m = ablation.machine("cpu")
    assert {"cpu_model", "cpu_bf16", "cpus", "torch"} <= set(m) and m["device"] == "cpu"


def test_geometry_scores_from_another_classifier_are_stale(tmp_path):
    "The geometry accuracy depends on the depth classifier: a run scored by another one (or before runs named it) is rescored."
    import json
    from geo3d.geometry import SCORING
    assert SCORING["classifier"] and SCORING["wall"] > 0                          # the classifier is part of what is scored
    run = tmp_path / "r"; run.mkdir()
    assert not ablation.geometry_current(run)                                     # not scored at all
    (run / "eval.json").write_text("{truncated")
    assert not ablation.geometry_current(run)                                     # an unreadable eval.json: scored again
    for geometry, current in ((SCORING, True), ({"wall": SCORING["wall"], "level": SCORING["level"]}, False),
                              ({**SCORING, "classifier": "depth-classifier-v3"}, False)):
        (run / "eval.json").write_text(json.dumps({"geometry": geometry, "results": {}}))
        assert ablation.geometry_current(run) is current, geometry
