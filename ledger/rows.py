"""The lesson's testable claims: an id, a short English paraphrase, where the lesson says it, and
what decides it (experiment claims ``"<experiment>:<key>"``, measured facts ``"facts:<key>"``),
or why nothing here can test it."""

from __future__ import annotations

from dataclasses import dataclass

TEMAS, DEFS, EXERCISES, HOMEWORK = "Temas", "Definiciones y características", "Ejercicios", "Homework verificable"
ACCEPTANCE, ERRORS, FAQ, REFERENCES = "Criterio de aceptación", "Errores comunes", "Preguntas frecuentes", "Referencias"
OUTCOMES = "Resultados de aprendizaje"


@dataclass(frozen=True)
class Row:
    id: int
    claim: str
    section: str
    sources: tuple[str, ...] = ()
    figure: str = ""  # "<experiment>/<file>.png", the figure that shows it
    not_testable: str = ""  # the reason, when nothing here can test it
    obsolete_check: str = ""  # a fact that decides whether the claim's premise still exists ("facts:<key>")


ROWS = (
    Row(1, "BN speeds convergence: fewer epochs and fewer seconds to val acc 0.85 and to val loss 0.4", TEMAS,
        ("ex1:epochs_to_acc", "ex1:seconds_to_acc", "homework:epochs_to_loss", "homework:seconds_to_loss"),
        "ex1/val_acc.png"),
    Row(2, "BN has a mild regularizing effect (smaller train-val gap than no norm after the same epochs)", TEMAS,
        ("regularization:bn_regularizes",), "regularization/val_loss.png"),
    Row(3, "BN allows higher learning rates", TEMAS, ("lr_sweep:bn_higher_lr", "lr_sweep:bn_beats_none_at_top"),
        "lr_sweep/val_acc_vs_lr.png"),
    Row(4, "BN uses the batch's statistics in training and its moving averages in inference", TEMAS + "; " + DEFS,
        ("ex3:bn_uses_batch_stats", "ex3:bn_uses_moving_averages", "ex3:bn_predictions_change"), "ex3/val_acc.png"),
    Row(5, "LN normalizes each sample by itself: independent of the batch, the same in training and inference (Ba et al.)",
        TEMAS + "; " + DEFS, ("ex3:ln_batch_independent", "ex3:ln_same_modes"), "ex3/val_acc.png"),
    Row(6, "GroupNorm works with batch size 1 (GN and LN train at batch 1; BN is refused)", DEFS,
        ("batch_one:gn_trains", "batch_one:ln_trains", "batch_one:cnn_gn_trains", "batch_one:cnn_ln_trains",
         "batch_one:bn_refused"), "batch_one/val_acc.png"),
    Row(7, "Placement: BN before the activation is better with ReLU, after it with GELU and with Swish", TEMAS + "; " + OUTCOMES,
        ("ex2:relu_before", "ex2:gelu_after", "ex2:silu_after"), "ex2/val_acc.png"),
    Row(8, "Ex. 1: BN reaches val accuracy 0.85 sooner (epochs and seconds)", EXERCISES,
        ("ex1:epochs_to_acc", "ex1:seconds_to_acc"), "ex1/val_acc.png"),
    Row(9, "Ex. 3: BN's predictions change between training and inference mode", EXERCISES, ("ex3:bn_predictions_change",),
        "ex3/val_acc.png"),
    Row(10, "Ex. 4: BN is unstable at batch size 4; LN (and GN) stabilize it", EXERCISES,
        ("ex4:bn_unstable_4", "ex4:ln_beats_bn_4", "ex4:gn_beats_bn_4", "vision:cnn_ln_beats_bn_4",
         "vision:cnn_gn_beats_bn_4"), "ex4/val_acc_vs_batch.png"),
    Row(11, "Ex. 5: an LSTM with LayerNorm before it trains well (against no norm and BN before it)", EXERCISES,
        ("ex5:ln_beats_plain", "ex5:ln_beats_bn"), "ex5/val_acc.png"),
    Row(12, "Homework: BN trained at batch 128 keeps its accuracy when inferring one image at a time", HOMEWORK,
        ("homework:batch1_inference",), "homework/val_acc.png"),
    Row(13, "Acceptance: BN needs >= 30% fewer epochs for the same val loss (0.4)", ACCEPTANCE,
        ("homework:epochs_to_loss_30pct",), "homework/val_loss.png"),
    Row(14, "Acceptance: LN is stable, and typically a little worse than BN on the MLP", ACCEPTANCE,
        ("homework:ln_stable", "homework:ln_below_bn"), "homework/val_acc.png"),
    Row(15, "Common error: BN at batch size 1 in training (sigma = 0; torch refuses, Keras silently outputs beta)", ERRORS,
        ("batch_one:bn_refused", "facts:keras_outputs_beta")),
    Row(16, "Common error: validation far from training because BN's inference statistics differ (stale moving "
            "averages after few steps; the momentum's role)", ERRORS,
        ("stale_stats:stale_gap", "stale_stats:momentum_role"), "stale_stats/val_acc.png"),
    Row(17, "Common error, torch form: forgetting model.eval() in a hand-written loop changes the predictions and "
            "overwrites the running statistics with validation batches", ERRORS,
        ("ex3:forgot_eval_predictions", "ex3:forgot_eval_running_stats"), "ex3/val_acc.png"),
    Row(18, "Common error: BN in an RNN, whose statistics change with the sequence length", ERRORS,
        ("ex5:bn_length_14", "ex5:bn_length_56"), "ex5/val_acc.png"),
    # The lesson says "unnecessary and sometimes harmful". "Sometimes harmful" is left out of the tested claim:
    # BN on the logits is measured at the lesson's batch 32 only, where no harm can be told from noise; a
    # setting where it harms (e.g. a small batch) is not run here, and a part never measured cannot be supported.
    Row(19, "Common error: BN on the last layer before the softmax is unnecessary (no gain; the lesson's \"sometimes "
            "harmful\" is not tested: only batch 32 is run)", ERRORS,
        ("regularization:logits_bn_no_gain",), "regularization/val_acc.png"),
    Row(20, "FAQ: BN partly replaces dropout", FAQ, ("regularization:bn_replaces_dropout", "regularization:bn_suffices"),
        "regularization/val_acc.png"),
    Row(21, "FAQ: LN, not BN, in Transformers (small batches; variable lengths break BN's statistics)", FAQ,
        ("transformer:vit_ln_beats_bn_4", "transformer:vit_bn_drops_more_tokens"), "transformer/val_acc_vs_batch.png"),
    Row(22, "FAQ: BN beats LN in vision (CNNs), where channels share statistics", FAQ,
        ("vision:cnn_bn_beats_ln_32", "vision:cnn_bn_beats_ln_128"), "vision/val_acc_vs_batch.png"),
    Row(23, "FAQ: BatchNormalization(fused=True) uses a fused CUDA kernel, ~20% faster", FAQ,
        obsolete_check="facts:keras_fused"),
    Row(24, "FAQ: BN is almost free on a GPU and noticeable on a CPU (time per epoch against no norm)", FAQ,
        ("facts:cpu_cost_32", "facts:cpu_cost_128", "facts:gpu_cost_32", "facts:gpu_cost_128"), "facts/bn_cost.png"),
    Row(25, "Ioffe & Szegedy: BN reaches the same accuracy in far fewer steps (14x on Inception)", REFERENCES,
        ("homework:steps_to_none_best",), "homework/val_acc.png"),
    Row(26, "Wu & He: GN's accuracy is nearly constant across batch sizes and far above BN at batch 2", REFERENCES,
        ("ex4:gn_less_sensitive", "ex4:gn_far_above_bn_2", "vision:cnn_gn_less_sensitive", "vision:cnn_gn_beats_bn_2"), "ex4/val_acc_vs_batch.png"),
    Row(27, "Santurkar et al.: BN smooths the loss landscape", REFERENCES,
        tuple(f"landscape:smoother_{m}_lr{lr}" for lr in ("0.1", "0.5") for m in ("loss_range", "diff_high", "beta")),
        "landscape/landscape.png"),
    Row(28, "InstanceNorm is like BN but per individual sample", DEFS, ("facts:in_per_sample", "facts:in_per_channel")),
)
