"""The Spanish edition of the ledger's texts (``reports/claims.es.md`` and the notebook): each
row's claim (``ROWS_ES``, by id, beside the English of ``ledger/rows.py``), the reasons for the
rows nothing here can test (``REASONS_ES``), and each part's claim (``PARTS_ES``, by
``"<experiment>:<key>"``, beside the English of the experiment modules)."""

from __future__ import annotations

ROWS_ES = {
    1: "BN acelera la convergencia: menos épocas y menos segundos hasta exactitud de validación 0.85 y hasta "
       "pérdida de validación 0.4",
    2: "BN tiene un efecto regularizador leve (menor brecha entre entrenamiento y validación que sin norma tras "
       "las mismas épocas)",
    3: "BN permite tasas de aprendizaje más altas",
    4: "BN usa las estadísticas del batch en entrenamiento y sus medias móviles en inferencia",
    5: "LN normaliza cada muestra por sí sola: no depende del batch y es igual en entrenamiento e inferencia "
       "(Ba et al.)",
    6: "GroupNorm funciona con batch 1 (GN y LN entrenan con batch 1; BN se rechaza)",
    7: "Ubicación: BN antes de la activación es mejor con ReLU, y después con GELU y con Swish",
    8: "Ej. 1: BN llega antes a exactitud de validación 0.85 (épocas y segundos)",
    9: "Ej. 3: las predicciones de BN cambian entre el modo entrenamiento y el de inferencia",
    10: "Ej. 4: BN es inestable con batch 4; LN (y GN) lo estabilizan",
    11: "Ej. 5: una LSTM con LayerNorm antes entrena bien (frente a sin norma y a BN antes)",
    12: "Tarea: BN entrenada con batch 128 conserva su exactitud al inferir de a una imagen",
    13: "Aceptación: BN necesita >= 30 % menos épocas para la misma pérdida de validación (0.4)",
    14: "Aceptación: LN es estable, y típicamente algo peor que BN en el MLP",
    15: "Error común: BN con batch 1 en entrenamiento (sigma = 0; torch lo rechaza, Keras devuelve beta en silencio)",
    16: "Error común: validación muy distinta del entrenamiento porque las estadísticas de inferencia de BN "
        "difieren (medias móviles viejas tras pocos pasos; el papel del momentum)",
    17: "Error común, versión torch: olvidar model.eval() en un bucle propio cambia las predicciones y pisa las "
        "estadísticas móviles con batches de validación",
    18: "Error común: BN en una RNN, cuyas estadísticas cambian con la longitud de la secuencia",
    19: "Error común: BN en la última capa, antes del softmax, es innecesaria y a veces dañina",
    20: "Pregunta frecuente: BN reemplaza en parte a dropout",
    21: "Pregunta frecuente: LN, no BN, en Transformers (batches chicos; las longitudes variables rompen las "
        "estadísticas de BN)",
    22: "Pregunta frecuente: BN supera a LN en visión (CNN), donde los canales comparten estadísticas",
    23: "Pregunta frecuente: BatchNormalization(fused=True) usa un kernel CUDA fusionado, ~20 % más rápido",
    24: "Pregunta frecuente: BN es casi gratis en una GPU y se nota en una CPU (tiempo por época frente a sin norma)",
    25: "Ioffe & Szegedy: BN llega a la misma exactitud en muchos menos pasos (14x en Inception)",
    26: "Wu & He: la exactitud de GN es casi constante entre tamaños de batch y muy superior a la de BN con batch 2",
    27: "Santurkar et al.: BN suaviza el paisaje de la pérdida",
    28: "InstanceNorm es como BN pero por muestra individual",
}

REASONS_ES = {
    21: "aquí no hay Transformer. Sus dos razones se prueban en las redes del proyecto: batches chicos (filas 6, "
        "10, 26) y longitud de secuencia cambiante en una LSTM (fila 18).",
    22: "aquí no hay CNN; en el MLP, LN es algo peor que BN (fila 14), lo que no dice nada de canales "
        "convolucionales.",
}

PARTS_ES = {
    "batch_one:ln_trains": "LN entrena con batch 1",
    "batch_one:gn_trains": "GN entrena con batch 1",
    "batch_one:cnn_ln_trains": "en la CNN, LN entrena con batch 1",
    "batch_one:cnn_gn_trains": "en la CNN, GN entrena con batch 1",
    "batch_one:bn_refused": "BN no puede entrenar con batch 1: torch lo rechaza",
    "ex1:epochs_to_acc": "BN llega a exactitud de validación 0.85 en menos épocas",
    "ex1:seconds_to_acc": "BN llega a exactitud de validación 0.85 en menos tiempo de entrenamiento",
    "ex2:relu_before": "con ReLU, BN antes de la activación supera a BN después",
    "ex2:gelu_after": "con GELU, BN después de la activación supera a BN antes",
    "ex2:silu_after": "con SiLU (Swish), BN después de la activación supera a BN antes",
    "ex3:bn_predictions_change": "las predicciones de BN cambian entre el modo entrenamiento y el de inferencia",
    "ex3:bn_acc_differs": "la exactitud de BN difiere entre los modos",
    "ex3:ln_same_modes": "las predicciones de LN son iguales en los dos modos",
    "ex3:bn_uses_batch_stats": "en modo entrenamiento BN normaliza con la media y la varianza del propio batch",
    "ex3:bn_uses_moving_averages": "en modo inferencia BN normaliza con sus medias móviles",
    "ex3:ln_batch_independent": "la salida de LN para una muestra no depende del resto del batch",
    "ex3:forgot_eval_predictions": "un bucle de validación sin model.eval() cambia las predicciones de BN",
    "ex3:forgot_eval_running_stats": "... y pisa las estadísticas móviles de BN con batches de validación",
    "ex3:forgot_eval_accuracy": "... lo que cambia la exactitud posterior en modo inferencia",
    "ex4:bn_unstable_4": "BN es inestable con batch 4: su exactitud en modo entrenamiento se aleja más de la de "
                         "inferencia que la de LN",
    "ex4:ln_beats_bn_4": "con batch 4, LN rinde mejor que BN",
    "ex4:gn_beats_bn_4": "con batch 4, GN rinde mejor que BN",
    "ex4:gn_far_above_bn_2": "con batch 2, GN queda muy por encima de BN (Wu & He)",
    "ex4:gn_less_sensitive": "la exactitud de GN varía menos que la de BN entre tamaños de batch",
    "ex4:bn_stale_averages": "con batch 128 las medias móviles de BN van atrasadas (el modo entrenamiento supera "
                             "al de inferencia)",
    "vision:cnn_ln_beats_bn_4": "en la CNN con batch 4, LN rinde mejor que BN",
    "vision:cnn_gn_beats_bn_4": "en la CNN con batch 4, GN rinde mejor que BN",
    "vision:cnn_gn_beats_bn_2": "en la CNN con batch 2, GN rinde mejor que BN (Wu & He)",
    "vision:cnn_gn_less_sensitive": "en la CNN, la exactitud de GN varía menos que la de BN entre tamaños de batch",
    "vision:cnn_bn_beats_ln_32": "en la CNN con batch 32, BN rinde mejor que LN",
    "vision:cnn_bn_beats_ln_128": "en la CNN con batch 128, BN rinde mejor que LN",
    "transformer:vit_ln_beats_bn_4": "en el ViT con batch 4, LN rinde mejor que BN",
    "transformer:vit_bn_drops_more_tokens": "en el ViT, la exactitud de BN cae más que la de LN cuando cambia el "
                                            "número de tokens (16 -> 8)",
    "ex5:ln_beats_plain": "una LSTM con LayerNorm antes entrena al menos tan bien como la LSTM sola",
    "ex5:ln_beats_bn": "LayerNorm antes de la LSTM supera a BatchNorm antes",
    "ex5:ln_same_modes": "las predicciones de LN son iguales en modo entrenamiento e inferencia",
    "ex5:bn_batch_dependent": "en modo entrenamiento la salida de BN depende del batch",
    "ex5:bn_length_14": "con secuencias de 14 pasos en vez de 28, BN antes de la LSTM pierde más exactitud que LN",
    "ex5:bn_length_56": "con secuencias de 56 pasos en vez de 28, BN antes de la LSTM pierde más exactitud que LN",
    "facts:keras_outputs_beta": "BatchNormalization de Keras, modo entrenamiento, batch de uno: devuelve beta en "
                                "silencio (sin error)",
    "facts:in_per_sample": "InstanceNorm normaliza cada muestra por sí sola (entrada de la LSTM, sobre los 28 pasos)",
    "facts:in_per_channel": "InstanceNorm estandariza cada canal de cada muestra, como BN lo hace sobre un batch",
    "facts:cpu_cost_32": "BN cuesta un tiempo por época apreciable en una CPU, batch 32",
    "facts:cpu_cost_128": "BN cuesta un tiempo por época apreciable en una CPU, batch 128",
    "facts:gpu_cost_32": "BN cuesta un tiempo por época apreciable en una GPU, batch 32",
    "facts:gpu_cost_128": "BN cuesta un tiempo por época apreciable en una GPU, batch 128",
    "homework:steps_to_none_best": "BN llega a la mejor exactitud de validación sin norma en menos pasos (Ioffe & "
                                   "Szegedy: 14x menos en Inception)",
    "homework:epochs_to_loss": "BN llega a pérdida de validación < 0.4 en menos épocas que sin norma",
    "homework:epochs_to_loss_30pct": "BN llega a pérdida de validación < 0.4 en >= 30 % menos épocas que sin norma",
    "homework:seconds_to_loss": "BN llega a pérdida de validación < 0.4 en menos tiempo de entrenamiento que sin norma",
    "homework:ln_stable": "LN es estable (toda semilla llega a pérdida de validación < 0.4, sin NaN)",
    "homework:ln_below_bn": "LN es algo peor que BN",
    "homework:batch1_inference": "inferir de a una imagen da las mismas predicciones que en batches",
    **{f"landscape:smoother_{key}_lr{lr}": f"lr {lr}: el paisaje de BN es más suave según {what}"
       for lr in ("0.1", "0.5") for key, what in (("loss_range", "(a)"), ("diff_high", "(b)"), ("beta", "(c)"))},
    "landscape:none_diverges": "lr 0.5: sin norma diverge (pérdida NaN) donde BN no",
    "lr_sweep:bn_higher_lr": "BN entrena con tasas de aprendizaje más altas que sin norma",
    "lr_sweep:bn_beats_none_at_top": "con la tasa más alta del barrido (1), BN supera a sin norma",
    "lr_sweep:ln_higher_lr": "LN entrena con tasas de aprendizaje más altas que sin norma",
    "lr_sweep:none_diverges_more": "con la tasa más alta, sin norma diverge más a menudo que BN",
    "regularization:bn_regularizes": "BN tiene un efecto regularizador leve: menor brecha entre entrenamiento y "
                                     "validación que sin norma tras las mismas épocas",
    "regularization:bn_replaces_dropout": "BN reemplaza en parte a dropout: dropout aporta menos sobre BN que sobre "
                                          "sin norma",
    "regularization:bn_suffices": "BN sola es tan exacta como dropout solo (dentro de 0.005)",
    "regularization:logits_bn_no_gain": "BN en la última capa antes del softmax no aporta ganancia (no más de +0.005)",
    "stale_stats:stale_gap": "tras pocos pasos, la exactitud de validación de BN en modo inferencia queda por debajo "
                             "de la del modo entrenamiento (medias móviles viejas, momentum 0.99)",
    "stale_stats:momentum_role": "una media móvil más rápida (momentum 0.9) achica esa brecha",
}
