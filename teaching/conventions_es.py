"""The Keras-vs-torch conventions table (``parity.conventions.CONVENTIONS``) in Spanish, for the
notebook: each convention's Keras side, torch side and how one maps to the other, by name."""

from __future__ import annotations

from experiments.report import markdown_table
from parity.conventions import CONVENTIONS

ES = {
    "bn_momentum": ("BatchNormalization(momentum=m): móvil = m·móvil + (1-m)·batch",
                    "BatchNorm1d(momentum=m'): running = (1-m')·running + m'·batch",
                    "momentum de torch = 1 - momentum de Keras (pytorch/examples#289)"),
    "bn_epsilon": ("BatchNormalization(epsilon=1e-3)", "BatchNorm1d(eps=1e-5)",
                   "el mismo significado (se suma a la varianza bajo la raíz), otro valor por defecto"),
    "ln_epsilon": ("LayerNormalization(epsilon=1e-3)", "LayerNorm(eps=1e-5)", "el mismo significado, otro valor por defecto"),
    "gn_epsilon": ("GroupNormalization(epsilon=1e-3)", "GroupNorm(eps=1e-5)", "el mismo significado, otro valor por defecto"),
    "bn_variance": ("la varianza móvil se actualiza con la varianza SESGADA del batch (/n)",
                    "running_var se actualiza con la INSESGADA (/(n-1)); para normalizar usa la sesgada",
                    "make_norm(bn_variance='biased') del proyecto (KerasBatchNorm1d) sigue a Keras"),
    "init": ("Dense(kernel_initializer='glorot_uniform'), sesgo en cero",
             "Linear: kaiming_uniform(a=sqrt(5)), sesgo uniforme ('torch' en lightning_mods.init)",
             "los nombres he_normal / glorot_uniform son los esquemas de Keras en los dos lados"),
    "dense_kernel": ("kernel de Dense (in, out): y = x @ K + b", "weight de Linear (out, in): y = x @ W.T + b",
                     "la transferencia traspone"),
    "lstm_gates": ("kernel (in, 4u): bloques de compuertas i, f, c, o", "weight_ih (4u, in): bloques i, f, g, o",
                   "el MISMO orden (la c de Keras es la g de torch, la candidata de la celda): trasponer, sin reordenar"),
    "lstm_recurrent": ("recurrent_kernel (u, 4u)", "weight_hh (4u, u)", "trasponer"),
    "lstm_bias": ("un sesgo (4u); unit_forget_bias=True", "dos sesgos b_ih + b_hh, ambos entrenados",
                  "Keras->torch: b_ih = b, b_hh = 0; torch->Keras: b = b_ih + b_hh. SGD mueve cada sesgo de torch con el "
                  "gradiente completo: el sesgo efectivo se mueve el doble de rápido salvo que b_hh esté congelado"),
    "norm_axis": ("axis=-1 sobre (B, T, C)", "canales en segundo lugar: (B, C, T) para BatchNorm1d/GroupNorm",
                  "lightning_mods.norms.SequenceNorm traspone"),
    "image_layout": ("imágenes en NHWC (B, H, W, C); kernel de Conv2D (kh, kw, in, out)",
                     "imágenes en NCHW (B, C, H, W); weight de Conv2d (out, in, kh, kw)",
                     "la transferencia traspone el kernel (2, 3, 1, 0) y la red de torch recibe NCHW"),
    "flatten_order": ("Flatten de (H, W, C): índice h*W*C + w*C + c", "Flatten de (C, H, W): índice c*H*W + h*W + w",
                      "la Dense que sigue a Flatten recibe sus filas de entrada permutadas"),
    "bn_axis_images": ("BatchNormalization(axis=-1) sobre NHWC: por canal sobre B, H, W",
                       "BatchNorm2d sobre NCHW: por canal sobre B, H, W",
                       "las mismas estadísticas; un modelo Keras con axis=1 sobre NHWC normalizaría por FILA"),
    "ln_axes_images": ("LayerNormalization() es axis=-1: por píxel sobre C, gamma (C,); axis=[1, 2, 3]: sobre H, W, C, "
                       "gamma (H, W, C)", "LayerNorm([C, H, W]): sobre C, H, W, gamma (C, H, W)",
                       "dos convenciones (--ln-axes c | chw); con chw gamma y beta se trasponen (1, 2, 0)"),
    "mha_weights": ("MultiHeadAttention: kernels de query/key/value (D, cabezas, dim_cabeza), salida "
                    "(cabezas, dim_cabeza, D)", "MultiheadAttention: in_proj_weight empaquetado (3D, D), "
                    "out_proj.weight (D, D)", "parity.attention los traduce (key_dim debe ser D / cabezas)"),
    "mode": ("model(x, training=True o False); model(x) solo es inferencia", "module.train() / module.eval()",
             "training=True <-> .train(); los dos actualizan entonces las estadísticas móviles de BN"),
    "learning_rate": ("SGD la guarda en una variable float32", "SGD guarda un float de Python (doble precisión)",
                      "el par le da a torch la tasa redondeada a float32 (0.01 -> 0.009999999776)"),
    "bn_batch_of_one": ("entrenar con 1 muestra devuelve beta (varianza 0)", "entrenar con 1 muestra lanza ValueError",
                        "el proyecto lo rechaza con un UsageError (parity.compare.check_batch, el DataModule)"),
}


def table() -> str:
    """The conventions as a Spanish markdown table (a convention without a Spanish text keeps its English)."""
    rows = [[c.name, *ES.get(c.name, (c.keras, c.torch, c.note or "el mismo valor"))] for c in CONVENTIONS]
    return markdown_table(["ajuste", "Keras", "torch", "cómo se traduce"], rows)
