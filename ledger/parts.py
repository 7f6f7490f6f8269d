"""Each claim part the ledger's rows cite: its label in the row (what sets it apart from the row's
other parts: target, batch size, lr, norm), the smallest effect that matters (``margin``) and why,
and whether the lesson's sentence claims an effect (a negligible one contradicts it) or the
absence of one (``equivalence``: a negligible one supports it).

Margins are absolute for differences (accuracy: 0.005 = half a point) and relative for ratios
(0.10 = 10%); ``None`` where the part is a float identity or a count decided by its tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    label: str
    margin: float | None
    reason: str
    equivalence: bool = False


ACC = 0.005
ACC_WHY = ("half a point of val accuracy: below the seed-to-seed spread of one variant (~0.01 on these runs) and "
           "below any difference a learner would act on")
TIME = 0.10
TIME_WHY = "10% of the time: one validation check (0.1 epoch) on times of about one epoch; below it a learner would not notice"
COST_WHY = "a 10% longer epoch: below it, a cost nobody would call noticeable"
LR_WHY = "10%: the sweep's rates are a factor of 3 or more apart, so any real difference exceeds it"
SMOOTH_WHY = "10%: a smoothness measure changed by less than a tenth is not a smoother landscape"
FRACTION_WHY = "half a percent of the predictions (one in 200): fewer changed predictions are noise of float order"
TOLERANCE_WHY = "a float identity or a count: decided by its tolerance, no effect size to weigh"


def _acc(label: str, equivalence: bool = False) -> Part:
    return Part(label, ACC, ACC_WHY, equivalence)


PARTS: dict[str, Part] = {
    "ex1:epochs_to_acc": Part("val acc 0.85, epochs", TIME, TIME_WHY),
    "ex1:seconds_to_acc": Part("val acc 0.85, seconds (steps x bench s/step)", TIME, TIME_WHY),
    "homework:epochs_to_loss": Part("val loss 0.4, epochs", TIME, TIME_WHY),
    "homework:seconds_to_loss": Part("val loss 0.4, seconds (steps x bench s/step)", TIME, TIME_WHY),
    "homework:epochs_to_loss_30pct": Part("val loss 0.4, epochs, >= 30% fewer", TIME, TIME_WHY),
    "homework:steps_to_none_best": Part("no norm's best val acc, steps", TIME, TIME_WHY),
    "regularization:bn_regularizes": _acc("train-val gap, none - BN"),
    "regularization:bn_replaces_dropout": _acc("dropout's gain, with BN - without"),
    "regularization:bn_suffices": _acc("BN alone - dropout alone", equivalence=True),
    "regularization:logits_bn_no_gain": _acc("BN on the logits - without, batch 32", equivalence=True),
    "lr_sweep:bn_higher_lr": Part("highest trainable lr, BN / none", TIME, LR_WHY),
    "lr_sweep:bn_beats_none_at_top": _acc("val acc at the top lr, BN - none"),
    "ex3:bn_uses_batch_stats": Part("training mode: batch statistics", None, TOLERANCE_WHY),
    "ex3:bn_uses_moving_averages": Part("inference mode: moving averages", None, TOLERANCE_WHY),
    "ex3:bn_predictions_change": Part("predictions changed between modes", ACC, FRACTION_WHY),
    "ex3:ln_batch_independent": Part("LN: alone vs in a batch", None, TOLERANCE_WHY),
    "ex3:ln_same_modes": Part("LN: training vs inference mode", None, TOLERANCE_WHY),
    "ex3:forgot_eval_predictions": Part("forgot eval(): predictions changed", ACC, FRACTION_WHY),
    "ex3:forgot_eval_running_stats": Part("forgot eval(): running statistics changed", None, TOLERANCE_WHY),
    "batch_one:gn_trains": Part("GN, batch 1", None, "a floor on accuracy (> 0.7), not an effect between two variants"),
    "batch_one:ln_trains": Part("LN, batch 1", None, "a floor on accuracy (> 0.7), not an effect between two variants"),
    "batch_one:cnn_gn_trains": Part("CNN, GN, batch 1", None, "a floor on accuracy (> 0.7), not an effect between two variants"),
    "batch_one:cnn_ln_trains": Part("CNN, LN, batch 1", None, "a floor on accuracy (> 0.7), not an effect between two variants"),
    "batch_one:bn_refused": Part("BN, batch 1: refused", None, TOLERANCE_WHY),
    "ex2:relu_before": _acc("ReLU: before - after"),
    "ex2:gelu_after": _acc("GELU: after - before"),
    "ex2:silu_after": _acc("Swish: after - before"),
    "ex4:bn_unstable_4": _acc("batch 4: |train - inference mode acc|, BN - LN"),
    "ex4:ln_beats_bn_4": _acc("batch 4: val acc, LN - BN"),
    "ex4:gn_beats_bn_4": _acc("batch 4: val acc, GN - BN"),
    "ex4:gn_less_sensitive": _acc("batches 2-128: acc range, GN - BN"),
    "ex4:gn_far_above_bn_2": _acc("batch 2: val acc, GN - BN"),
    "vision:cnn_ln_beats_bn_4": _acc("CNN, batch 4: val acc, LN - BN"),
    "vision:cnn_gn_beats_bn_4": _acc("CNN, batch 4: val acc, GN - BN"),
    "vision:cnn_gn_beats_bn_2": _acc("CNN, batch 2: val acc, GN - BN"),
    "vision:cnn_gn_less_sensitive": _acc("CNN, batches 2-128: acc range, GN - BN"),
    "vision:cnn_bn_beats_ln_32": _acc("CNN, batch 32: val acc, BN - LN"),
    "vision:cnn_bn_beats_ln_128": _acc("CNN, batch 128: val acc, BN - LN"),
    "transformer:vit_ln_beats_bn_4": _acc("ViT, batch 4: val acc, LN - BN"),
    "transformer:vit_bn_drops_more_tokens": _acc("ViT, 16 -> 8 tokens: acc drop, BN - LN"),
    "ex5:ln_beats_plain": _acc("LN before - no norm"),
    "ex5:ln_beats_bn": _acc("LN before - BN before"),
    "ex5:bn_length_14": _acc("length 28 -> 14: drop, BN - LN"),
    "ex5:bn_length_56": _acc("length 28 -> 56: drop, BN - LN"),
    "homework:batch1_inference": Part("batch 128 vs one at a time", None, TOLERANCE_WHY),
    "homework:ln_stable": Part("LN: seeds reaching val loss 0.4", None, "a count of seeds, all or not"),
    "homework:ln_below_bn": _acc("val acc, BN - LN"),
    "facts:keras_outputs_beta": Part("Keras, batch 1: output = beta", None, TOLERANCE_WHY),
    "stale_stats:stale_gap": _acc("few steps: train - inference mode acc"),
    "stale_stats:momentum_role": _acc("gap, momentum 0.99 - 0.9"),
    "facts:cpu_cost_32": Part("CPU, batch 32", TIME, COST_WHY),
    "facts:cpu_cost_128": Part("CPU, batch 128", TIME, COST_WHY),
    "facts:gpu_cost_32": Part("GPU, batch 32", TIME, COST_WHY),
    "facts:gpu_cost_128": Part("GPU, batch 128", TIME, COST_WHY),
    **{f"landscape:smoother_{m}_lr{lr}": Part(f"lr {lr}, {name}", TIME, SMOOTH_WHY)
       for lr in ("0.1", "0.5") for m, name in (("loss_range", "loss range"), ("diff_high", "gradient change"),
                                                 ("beta", "beta-smoothness"))},
    "facts:in_per_sample": Part("per sample", None, TOLERANCE_WHY),
    "facts:in_per_channel": Part("per channel", None, TOLERANCE_WHY),
}


def part(source: str) -> Part:
    """The declared part, or one labelled by its key with no margin (a part added without a declaration)."""
    return PARTS.get(source) or Part(source.split(":")[-1], None, "no margin declared yet (ledger/parts.py)")
