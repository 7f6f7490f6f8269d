"""The notebook's helpers (teaching/): Spanish texts and figures, the verdicts beside the
reports', the from-scratch batch norm against torch and Keras, the "Tu turno" checks, the
activations per layer, and the two editions built from the one source."""

from __future__ import annotations

import json
import re

import lightning_mods  # noqa: F401  (the torch side before Keras)
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from experiments.stats import Estimate, ratio_ci, verdict  # noqa: E402
from lightning_mods.errors import UsageError  # noqa: E402
from lightning_mods.nets import MLP, LSTMClassifier  # noqa: E402
from teaching import activations, exercises, ledger_view, notebooks  # noqa: E402
from teaching.batchnorm_scratch import batch_norm, compare, example, frameworks, scratch  # noqa: E402
from teaching.display import image_markdown  # noqa: E402
from teaching.spanish import data_source, es, figure_es  # noqa: E402
from teaching.verdicts import REPORTS, verdict_rows  # noqa: E402

ENGLISH = re.compile(r"\b(val|acc|epochs?|seconds|mode|changed|steps|loss|seeds?|before|after|none|plain|"
                     r"training|inference|validation|accuracy|lowest|best|batched|differing)\b")


@pytest.mark.parametrize("name", ["ex1", "ex2", "ex3", "ex4", "ex5", "homework", "regularization"])
def test_the_reports_table_headers_read_in_spanish(name):
    header = next(line for line in (REPORTS / name / "report.md").read_text().splitlines() if line.startswith("| "))
    columns = header.strip("| ").split(" | ")
    assert [es(c) for c in columns if ENGLISH.search(es(c))] == []


def test_a_figure_is_translated_in_place():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4], label="none")
    ax.legend()
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="Val accuracy vs batch size (mean, band: 95% CI over 2 seeds)")
    figure_es(fig)
    texts = [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(), ax.get_legend().get_texts()[0].get_text()]
    plt.close(fig)
    assert texts == ["época", "exactitud de validación",
                     "Exactitud de validación según el tamaño de batch (media; banda: IC 95 % sobre 2 semillas)", "sin norma"]


def test_the_data_parameter_takes_accents_and_refuses_the_rest():
    assert data_source("sintético") == data_source("sintetico") == "synthetic" and data_source("real") == "real"
    with pytest.raises(UsageError, match="no es válido"):
        data_source("falso")


def test_the_projects_warnings_read_in_spanish():
    from teaching.spanish import warning_es

    assert warning_es("warning: --arch lstm with --norm bn: BatchNorm's statistics ...").startswith("aviso: LSTM")
    assert warning_es("warning: something new").startswith("aviso del proyecto (en inglés)")


def test_a_figure_is_shown_with_its_alternative_text():
    assert image_markdown(b"\x89PNG", "curva [a]").startswith("![curva (a)](data:image/png;base64,")


def test_the_scratch_batch_norm_matches_keras_and_torch_in_both_modes():
    rows = compare(scratch(batch_norm, example()), frameworks(example()))
    wrong = {(r["framework"], r["what"]) for r in rows if not r["ok"]}
    # torch's own BatchNorm1d moves its variance with the unbiased estimate, hence its inference output too
    assert wrong == {("torch nn.BatchNorm1d", "moving_var"), ("torch nn.BatchNorm1d", "infer")}
    assert len(rows) == 12


def test_the_checks_say_bien_only_for_right_answers():
    def mine(x, gamma, beta, mm, mv, training, momentum=0.99, eps=1e-3):
        if training:
            m, v = x.mean(0), x.var(0)
            mm, mv = momentum * mm + (1 - momentum) * m, momentum * mv + (1 - momentum) * v
        else:
            m, v = mm, mv
        return gamma * (x - m) / np.sqrt(v + eps) + beta, mm, mv

    def unbiased(x, gamma, beta, mm, mv, training):
        return mine(x * 1.01, gamma, beta, mm, mv, training)

    trainable = exercises.trainable(MLP(norm="bn")) - exercises.trainable(MLP(norm="none"))
    assert exercises.check_bn_parameters(trainable).startswith("bien")
    assert exercises.check_bn_parameters(2 * 960).startswith("casi")
    assert exercises.check_bn_parameters(None) == exercises.MISSING
    assert exercises.check_post_gelu(MLP(hidden=[32, 16], norm="bn", placement="post", activation="gelu")).startswith("bien")
    assert exercises.check_post_gelu(MLP(hidden=[32, 16], norm="bn", activation="gelu")).startswith("no")
    assert exercises.check_batch_norm(mine).startswith("bien")
    assert exercises.check_batch_norm(unbiased).startswith("no: difiere")
    assert exercises.check_batch_norm(lambda *a, **k: 1 / 0).startswith("no: tu función falla")
    losses = list(np.random.default_rng(0).random(80))
    assert exercises.check_loss_spread(float(np.std(losses[-50:], ddof=1)), losses).startswith("bien")
    assert exercises.check_loss_spread(float(np.std(losses[-50:])), losses).startswith("casi")
    assert exercises.check_lstm_ln(LSTMClassifier(units=8, norm="ln")).startswith("bien")
    assert exercises.check_lstm_ln(LSTMClassifier(units=8, norm="bn")).startswith("no")
    bn, none = [1.0, 1.2, 1.1], [2.0, 2.3, 2.1]
    right = verdict(ratio_ci(bn, none), "<", 0.7)
    assert exercises.check_rule(ratio_ci(bn, none), right, bn, none, "<", 0.7).startswith("bien")
    assert exercises.check_rule(ratio_ci(none, bn), right, bn, none, "<", 0.7).startswith("no")


def test_bn_centres_every_layer_and_no_norm_does_not():
    x = torch.rand(256, 28, 28, generator=torch.Generator().manual_seed(0))
    rows = activations.layer_stats({"bn": activations.initial_mlp("bn"), "none": activations.initial_mlp("none")}, x)
    bn = [(float(r[2]), float(r[3])) for r in rows if r[0] == "bn"]
    assert len(bn) == 4 and all(abs(m) < 1e-3 and abs(s - 1) < 1e-2 for m, s in bn)
    assert any(abs(float(r[2])) > 0.05 for r in rows if r[0] == "none")


def test_the_two_editions_split_by_tags(tmp_path):
    paths = notebooks.build(out_dir=tmp_path)
    student, teacher = (json.loads(paths[k].read_text()) for k in (notebooks.STUDENT, notebooks.TEACHER))
    tags = lambda nb, t: [c for c in nb["cells"] if t in c["metadata"].get("tags", [])]  # noqa: E731
    assert tags(student, "solucion") == [] and tags(teacher, "alumno") == []
    assert len(tags(student, "alumno")) >= 6 and len(tags(teacher, "solucion")) == len(tags(student, "alumno"))
    shared = lambda nb: [c["source"] for c in nb["cells"] if not set(c["metadata"].get("tags", [])) & {"alumno", "solucion"}]  # noqa: E731
    assert shared(student) == shared(teacher)
    assert "jupytext" not in student["metadata"]
    assert notebooks.main([str(tmp_path / "missing.py")]) == 2


def _claim(key, verdict_, mean, low, high, n=2):
    return {"key": key, "claim": "x", "effect": "val acc, BN - none", "mean": mean, "low": low, "high": high, "n": n,
            "side": ">", "threshold": 0.0, "percent": False, "verdict": verdict_}


def test_verdicts_stand_beside_the_reports_and_none_on_synthetic_data():
    report = json.loads((REPORTS / "ex1" / "results.json").read_text())
    key = report["claims"][0]["key"]
    theirs = report["claims"][0]["verdict"]
    other = "contradicted" if theirs != "contradicted" else "supported"
    columns, rows = verdict_rows("ex1", [_claim(key, other, 0.1, 0.05, 0.2)], 2, 1, synthetic=False)
    assert "veredicto aquí" in columns and "2 semillas en vez de 5" in rows[0][-1] and "1 época(s)" in rows[0][-1]
    columns, rows = verdict_rows("ex1", [_claim(key, other, 0.1, 0.05, 0.2)], 2, 1, synthetic=True)
    assert "veredicto aquí" not in columns and not any("**" in cell for cell in rows[0])


def test_a_row_nothing_measures_reads_no_medido_aun():
    assert "no medido aún" in ledger_view.sentence({"id": 21, "claim": "c", "verdict": "not testable here",
                                                    "reason": "r"}, 21)
    assert "no medido aún" in ledger_view.sentence(None, 99)
    supported = {"id": 3, "claim": "c", "verdict": "supported", "parts": [
        {"source": "lr_sweep:bn_higher_lr", "claim": "c", "effect": "e", "mean": 2.0, "low": 1.5, "high": 2.5, "n": 5,
         "side": ">", "threshold": 1.0, "verdict": "supported"}]}
    assert "**respaldada**" in ledger_view.sentence(supported, 3)
    assert Estimate(2.0, 1.5, 2.5, 5).text() in ledger_view.sentence(supported, 3)


def test_every_keras_torch_convention_has_its_spanish_row():
    from parity.conventions import CONVENTIONS
    from teaching.conventions_es import ES, table

    assert sorted(ES) == sorted(c.name for c in CONVENTIONS)
    assert table().count("\n") == len(CONVENTIONS) + 1


def test_a_run_that_reused_saved_runs_is_recorded_apart(tmp_path):
    """An execution that took runs from CORRIDAS is not the time a fresh one takes: its own key."""
    import time as clock
    from types import SimpleNamespace

    from teaching.session import record, recorded_lines

    def lesson(trained: int) -> SimpleNamespace:
        return SimpleNamespace(quick=False, source="real", seeds=3, epochs=3, images_per_epoch=2048,
                               runner=SimpleNamespace(cache=dict.fromkeys(range(5)), trained=trained),
                               elapsed=lambda: 60.0, cpu_start=clock.process_time(), pool=SimpleNamespace(n_workers=2))

    path = tmp_path / "tiempos.json"
    record(path, lesson(trained=5))
    times = record(path, lesson(trained=1))
    assert sorted(times) == ["normal real", "normal real (4 corridas guardadas)"]
    assert any("datos reales (4 corridas guardadas)" in line for line in recorded_lines(times))
