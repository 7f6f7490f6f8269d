"""The "Tu turno" checks: each takes the student's answer and says ``bien`` or what is off,
computing the expected value with the project's own API (nets, norms, the statistics' rule)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from experiments.report import spread
from experiments.stats import ratio_ci, verdict
from lightning_mods.nets import MLP
from teaching.batchnorm_scratch import compare, example, frameworks, scratch

MISSING = "todavía falta: completa la celda de arriba (la respuesta es None)"
LESSON_HIDDEN = [512, 256, 128, 64]


def trainable(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def check_bn_parameters(answer) -> str:
    """Ej. 1: how many trainable parameters BN adds to the lesson's MLP (gamma and beta per unit,
    minus the bias of the Linear before it, which BN makes useless)."""
    if answer is None:
        return MISSING
    expected = trainable(MLP(hidden=LESSON_HIDDEN, norm="bn")) - trainable(MLP(hidden=LESSON_HIDDEN, norm="none"))
    if answer == expected:
        return f"bien: BN suma {expected} parámetros entrenables (2 por unidad, gamma y beta, menos el sesgo de la Linear)"
    if answer == 2 * sum(LESSON_HIDDEN):
        return (f"casi: {answer} son gamma y beta, pero la Linear antes de BN pierde su sesgo (bias=False): "
                f"la diferencia es {expected}")
    return f"no: la diferencia entre MLP(norm='bn') y MLP(norm='none') no es {answer}; cuéntala con p.numel()"


def check_post_gelu(net) -> str:
    """Ej. 2: a net built by the factory with the norm AFTER a GELU activation."""
    if net is None:
        return MISSING
    layers = [m for m in net.modules() if isinstance(m, (nn.Linear, nn.BatchNorm1d, nn.GELU, nn.ReLU, nn.SiLU))]
    if len(layers) < 3 or not isinstance(layers[0], nn.Linear):
        return "no: la red debe empezar con una Linear (usa lightning_mods.nets.MLP)"
    first = [type(m).__name__ for m in layers[:3]]
    if not isinstance(layers[1], nn.GELU):
        return f"no: tras la primera Linear viene {first[1]}; la activación pedida es GELU (activation='gelu')"
    if not isinstance(layers[2], nn.BatchNorm1d):
        return f"no: tras la GELU viene {first[2]}; BN va después de la activación (norm='bn', placement='post')"
    if layers[0].bias is None:
        return "no: con BN después de la activación la Linear necesita su sesgo"
    return "bien: Linear -> GELU -> BatchNorm1d, y la Linear conserva su sesgo"


def check_batch_norm(function) -> str:
    """Ej. 3: a from-scratch batch norm, against torch's KerasBatchNorm1d and Keras's layer, both modes."""
    if function is None:
        return MISSING
    data = example(seed=1)
    try:
        mine = scratch(function, data)
    except Exception as err:  # the student's code: say what failed, do not stop the notebook
        return f"no: tu función falla con {type(err).__name__}: {err}"
    theirs = {k: v for k, v in frameworks(data).items() if k != "torch nn.BatchNorm1d"}
    wrong = [f"{r['what']} frente a {r['framework']} (diferencia relativa {r['rel']:.1e})"
             for r in compare(mine, theirs) if not r["ok"]]
    if wrong:
        return "no: difiere en " + "; ".join(wrong)
    return "bien: tu batch norm coincide con torch y con Keras en entrenamiento y en inferencia"


def check_loss_spread(answer, step_losses: list[float], last: int = 50) -> str:
    """Ej. 4: the loss's spread (standard deviation) over a run's last ``last`` steps."""
    if answer is None:
        return MISSING
    expected = spread(step_losses[-last:])
    if math.isclose(answer, expected, rel_tol=1e-6, abs_tol=1e-9):
        return f"bien: desvío {expected:.4f} en los últimos {min(last, len(step_losses))} pasos"
    tail = np.asarray(step_losses[-last:], dtype=float)
    if tail.size > 1 and math.isclose(answer, tail.std(), rel_tol=1e-6):
        return "casi: ese es el desvío poblacional (ddof=0); el proyecto usa el muestral (ddof=1, statistics.stdev)"
    return f"no: {answer:.4g} no es el desvío de los últimos {last} valores de step_losses"


def check_lstm_ln(net) -> str:
    """Ej. 5: an LSTM with LayerNorm before it, the same in both modes."""
    if net is None:
        return MISSING
    norms = [m for m in net.modules() if isinstance(m, nn.LayerNorm)]
    if not norms or not any(isinstance(m, nn.LSTM) for m in net.modules()):
        return "no: la red debe tener una LSTM con una LayerNorm antes (LSTMClassifier(norm='ln'))"
    x = torch.rand(4, 28, 28, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        same = torch.allclose(net.train()(x), net.eval()(x))
    if not same:
        return "no: su salida cambia entre train() y eval(): ¿hay una BatchNorm?"
    return "bien: LSTM con LayerNorm antes; la misma salida en train() y en eval()"


def check_rule(estimate, said: str, bn: list[float], none: list[float], side: str, threshold: float) -> str:
    """Tarea: the ratio's interval over paired seeds (``ratio_ci``) and the verdict by the rule."""
    if estimate is None or said is None:
        return MISSING
    expected = ratio_ci(bn, none)
    if not math.isclose(estimate.mean, expected.mean, rel_tol=1e-9):
        return "no: el cociente se calcula por semilla, BN / sin norma (ratio_ci(bn, none))"
    right = verdict(expected, side, threshold)
    if said != right:
        return f"no: con ese intervalo la regla da {right!r}, no {said!r}"
    return f"bien: el cociente {expected.text(3)} y su veredicto por la regla son los del proyecto"
