"""Fast smoke tests of scripts/experiment.py and the exercises package, on synthetic data."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import pytest
import torch

from experiments.registry import NAMES
from experiments.probes import batch1_inference, mode_change
from experiments.executors import PoolSettings
from experiments.runner import Runner, RunSpec, Settings
from lightning_mods.training import prepare
from lightning_mods.nets import MLP

TINY = ["--data", "synthetic", "--seeds", "2", "--epochs", "1", "--images-per-epoch", "128", "--no-progress",
        "--workers", "1"]


@pytest.fixture(scope="module")
def experiment():
    """scripts/experiment.py as a module (conftest's load_script is a function-scoped fixture's helper)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "experiment.py"
    spec = importlib.util.spec_from_file_location("scripts_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def all_reports(experiment, tmp_path_factory):
    """One synthetic `all` run shared by the per-experiment checks."""
    out = tmp_path_factory.mktemp("reports")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = experiment.main(["all", *TINY, "--out", str(out)])
    return code, out, printed.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_all_writes_every_report(all_reports, name):
    code, out, printed = all_reports
    assert code == 0
    folder = out / name
    report = (folder / "report.md").read_text()
    assert report.startswith("# ") and "|---|" in report
    results = json.loads((folder / "results.json").read_text())
    assert results["runs"] and all(run["epochs"] or run.get("diverged") for run in results["runs"])
    figures = sorted(p.name for p in folder.glob("*.png"))
    assert figures and (name == "lr_sweep" or {"val_loss.png", "val_acc.png"} <= set(figures))
    for png in figures:
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in report
    assert f"{name}/report.md" in printed


def test_all_writes_index_and_ex4_batch_plot(all_reports):
    _, out, printed = all_reports
    index = (out / "report.md").read_text()
    assert all(f"[{name}]({name}/report.md)" in index for name in NAMES)
    assert (out / "ex4" / "val_acc_vs_batch.png").stat().st_size > 1000
    assert "wall time:" in printed


def test_all_writes_the_claims_ledger_and_every_cited_claim_is_found(all_reports):
    _, out, _ = all_reports
    ledger = json.loads((out / "claims.json").read_text())
    assert [row["id"] for row in ledger["claims"]] == list(range(1, 29))
    unresolved = [part["source"] for row in ledger["claims"] for part in row["parts"] if part.get("not_measured")]
    # the benchmark's rows, and the seconds to a target made from them (steps x s/step), need a bench JSON
    needs_bench = ("facts:cpu_cost", "facts:gpu_cost", "ex1:seconds_to_acc", "homework:seconds_to_loss")
    assert all(source.startswith(needs_bench) for source in unresolved), unresolved
    assert "[claims](claims.md)" in (out / "report.md").read_text()
    assert "| 28 |" in (out / "claims.md").read_text()
    assert "| 28 | InstanceNorm es como BN" in (out / "claims.es.md").read_text()  # the Spanish edition, beside it


def test_claims_alone_rebuilds_the_ledger_from_the_reports(experiment, all_reports, capsys):
    _, out, _ = all_reports
    before = json.loads((out / "claims.json").read_text())
    assert experiment.main(["claims", "--data", "synthetic", "--seeds", "2", "--out", str(out), "--no-progress"]) == 0
    assert "ledger: " in capsys.readouterr().out
    after = json.loads((out / "claims.json").read_text())
    assert [r["verdict"] for r in after["claims"]] == [r["verdict"] for r in before["claims"]]


def test_followup_lists_the_undecided_parts_and_trains_nothing(experiment, all_reports, capsys):
    _, out, _ = all_reports
    before = sorted(p.name for p in out.iterdir())
    assert experiment.main(["followup", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fresh seeds needed" in printed or "no follow-up to run" in printed
    assert sorted(p.name for p in out.iterdir()) == before


def test_landscape_writes_the_papers_figure_and_its_claims(all_reports):
    _, out, _ = all_reports
    folder = out / "landscape"
    assert (folder / "landscape.png").stat().st_size > 1000 and "](landscape.png)" in (folder / "report.md").read_text()
    results = json.loads((folder / "results.json").read_text())
    assert len(results["runs"]) == 8  # 2 norms x 2 rates x 2 seeds
    assert all(run["landscape"] and run["landscape"][0]["step"] == 0 for run in results["runs"])
    assert [c["verdict"] in ("supported", "contradicted", "inconclusive") for c in results["claims"]] == [True] * 7


def test_homework_batch1_and_ex3_ln_facts_hold_on_synthetic(all_reports):
    _, out, _ = all_reports
    homework = json.loads((out / "homework" / "results.json").read_text())
    assert all(b["differing_not_ties"] == 0 and b["batch1_acc"] == b["batched_acc"] for b in homework["batch1"])
    ex3 = json.loads((out / "ex3" / "results.json").read_text())
    assert all(p["changed_fraction"] == 0 for p in ex3["probes"]["ln"])


def test_one_name_writes_only_its_report(experiment, tmp_path, capsys):
    assert experiment.main(["ex3", *TINY, "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", "ex3", "runs"]  # runs: its runs, kept for a rerun
    assert "predictions changed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["ex1", "--seeds", "0"], "--seeds 0"),
    (["ex1", "--epochs", "0"], "--epochs 0"),
    (["ex1", "--epochs", "1000"], "--epochs 1000"),
    (["ex1", "--threads", "-1"], "--threads -1"),
    (["ex1", "--workers", "-2"], "--workers -2"),
    (["ex1", "--ray-address", "127.0.0.1:1"], "--ray-address needs --executor ray"),
    (["ex1", "--seed-offset", "-1"], "--seed-offset -1"),
])
def test_bad_numbers_are_usage_errors(experiment, tmp_path, capsys, argv, words):
    assert experiment.main([*argv, "--data", "synthetic", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err


def test_unknown_name_is_refused(experiment):
    with pytest.raises(SystemExit) as exit_info:
        experiment.main(["ex9"])
    assert exit_info.value.code == 2


def test_none_and_bn_start_from_the_same_linear_weights():
    settings = Settings(seeds=1, data="synthetic")
    linears = []
    for norm in ("none", "bn"):
        model, _ = prepare(settings.config(0, 1, norm=norm))
        linears.append([m.weight for m in model.net.modules() if isinstance(m, torch.nn.Linear)])
    assert len(linears[0]) == len(linears[1]) == 5
    assert all(torch.equal(a, b) for a, b in zip(*linears))


def test_runner_trains_a_shared_configuration_once():
    settings = Settings(seeds=2, data="synthetic", progress=False, pool=PoolSettings(workers=1))
    runner = Runner(settings)
    spec = RunSpec("bn", settings.config(0, 1, norm="bn", hidden=[32, 16], batch_size=128))
    first = runner.run_all([spec], "a")[0]
    second = runner.run_all([RunSpec("other label", spec.config)], "b")[0]
    assert second.model is first.model and second.variant == "other label"
    assert first.checks == [{**first.checks[0]}] and first.checks[0]["epoch"] == 1.0  # one validation, at the end
    assert len(runner.cache) == 1 and len(first.history) == 1


def test_probes_bn_changes_in_train_mode_ln_does_not():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8)
    bn, ln = MLP(hidden=[32, 16], norm="bn").eval(), MLP(hidden=[32, 16], norm="ln").eval()
    assert mode_change(bn, images)["mean_abs_logit_change"] > 1e-3
    ln_change = mode_change(ln, images)
    assert ln_change["changed_fraction"] == 0 and ln_change["max_abs_logit_change"] < 1e-5
    running = bn.layers[2].running_mean.clone()
    mode_change(bn, images)
    assert torch.equal(bn.layers[2].running_mean, running)  # the probe ran on a copy
    labels = torch.randint(0, 10, (64,))
    single = batch1_inference(bn, images, labels, batch_size=16)
    assert single["differing_not_ties"] == 0 and single["batch1_acc"] == single["batched_acc"]


def _tiny_specs(settings: Settings) -> list[RunSpec]:
    small = dict(hidden=[32, 16], batch_size=64)
    return [RunSpec(f"{norm} {seed}", settings.config(seed, 2, norm=norm, **small), checks_per_epoch=10)
            for norm in ("bn", "ln") for seed in range(2)] + \
           [RunSpec("bn 4", settings.config(0, 1, norm="bn", hidden=[32, 16], batch_size=4), train_steps=20)]


def _outcome(fits) -> list:
    """Everything a run produced but its wall seconds."""
    def timeless(rows):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    return [(f.variant, timeless(f.history), timeless(f.checks), f.step_losses,
             {k: v.tolist() for k, v in f.model.state_dict().items()}) for f in fits]


@pytest.fixture(scope="module")
def serial_outcome():
    settings = Settings(seeds=2, data="synthetic", progress=False, pool=PoolSettings(workers=1, threads=1))
    return _outcome(Runner(settings).run_all(_tiny_specs(settings), "serial"))


def test_serial_and_parallel_runs_are_bitwise_equal(serial_outcome):
    settings = Settings(seeds=2, data="synthetic", progress=False, pool=PoolSettings(workers=2, threads=1))
    parallel = _outcome(Runner(settings).run_all(_tiny_specs(settings), "parallel"))
    assert parallel == serial_outcome
    variant, history, checks, losses, _ = serial_outcome[0]
    assert len(history) == 2 and len(checks) > 10  # validated within epochs: fractional epochs
    assert len(serial_outcome[-1][3]) == 20  # a bounded run: exactly its train_steps optimizer steps
    assert [round(c["epoch"], 6) for c in checks][:2] == [round(c["step"] / (2000 // 64 + 1), 6) for c in checks][:2]


def test_ray_executor_gives_the_local_results(serial_outcome):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e '.[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        settings = Settings(seeds=2, data="synthetic", progress=False,
                            pool=PoolSettings(workers=2, threads=1, executor="ray"))
        assert _outcome(Runner(settings).run_all(_tiny_specs(settings), "ray")) == serial_outcome
    finally:
        ray.shutdown()


def test_ex4_runs_train_the_same_images_per_epoch_at_every_batch_size():
    """``RunSpec.train_batches`` bounds optimizer steps, although a Trainer batch groups several."""
    from experiments import ex4
    from experiments.runner import train

    settings = Settings(seeds=2, epochs=1, data="synthetic", progress=False, images_per_epoch=128,
                        pool=PoolSettings(workers=1))
    specs = [spec for spec in ex4.plan(settings) if spec.config.norm == "ln" and spec.config.seed == 0]
    assert [spec.config.batch_size for spec in specs] == list(ex4.BATCH_SIZES)
    for spec in specs:
        spec.config.hidden = [32, 16]
        steps = len(train(spec)["step_losses"])
        assert steps * spec.config.batch_size == 128, (spec.variant, steps)


def test_a_runs_warning_is_shown_once_by_the_parent(capfd):
    """The guards' warning of every LSTM-BN run comes back from the worker and is printed once."""
    settings = Settings(seeds=2, epochs=1, data="synthetic", progress=False, pool=PoolSettings(workers=1))
    specs = [RunSpec(f"bn {seed}", settings.config(seed, 1, arch="lstm", norm="bn", batch_size=128), train_steps=2)
             for seed in (0, 1)]
    Runner(settings).run_all(specs, "lstm")
    err = capfd.readouterr().err
    assert err.count("--arch lstm with --norm bn") == 1
