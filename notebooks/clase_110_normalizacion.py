# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Clase 110 — Batch Normalization, Layer Normalization (con PyTorch Lightning)
#
# **Parte 2 — Deep Learning** · Fuente: Géron, cap. 11 § Batch Normalization.
#
# Este cuaderno rehace la clase con este proyecto (`normlab`): las redes, las normalizaciones y el
# entrenamiento vienen de `lightning_mods` (PyTorch Lightning), los ejercicios se entrenan con el
# *runner* de experimentos del proyecto (`experiments`), y la comparación con Keras usa
# `keras_ref` y `parity`. No hay aquí ningún bucle de entrenamiento propio: cada celda llama al
# proyecto y muestra lo que midió.
#
# **Cómo se ejecuta.** Con los valores por defecto (celda de parámetros) entrena en Fashion-MNIST real
# con **menos semillas y épocas que los informes del proyecto** (`reports/`, 5 semillas y 6 épocas en
# los MLP), elegidos para que todo termine en menos de 10 minutos en una máquina de 2 núcleos libre
# (la ejecución guardada, en datos reales, tardó 10.2 minutos con la máquina compartida con otra tarea); la sección **Tiempo**, al final, da el tiempo
# medido de la ejecución guardada y con qué datos se hizo. Con `DATOS = "sintetico"` y valores chicos
# (los de los tests) entrena en segundos cada ejercicio. Para reejecutarlo:
#
# ```bash
# make notebook                          # reejecuta este cuaderno con datos reales, en su lugar
# .venv/bin/jupyter lab notebooks/       # abrirlo en JupyterLab
# .venv/bin/papermill notebooks/clase_110_normalizacion.ipynb salida.ipynb -p DATOS sintetico -p SEMILLAS 2 -p EPOCAS 1
# ```

# %%
# Imports y configuración inicial
import copy
import io
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import redirect_stderr
from pathlib import Path

# Avisos en una línea, sin la ruta del archivo que los emite (el cuaderno guardado no lleva rutas de la máquina);
# el de tqdm (sin ipywidgets) sobra: las barras de progreso están apagadas.
warnings.formatwarning = lambda message, category, *args, **kwargs: f"{category.__name__}: {message}\n"
warnings.filterwarnings("ignore", message="IProgress not found")

import torch
from IPython.display import Image, Markdown, display
from torch import nn

import lightning_mods  # el lado torch primero: TensorFlow importado antes que triton rompe el proceso
from lightning_mods.errors import UsageError
from experiments.suite import run_experiments
from experiments.executors import PoolSettings, machine_cores
from experiments.probes import as_float, mode_accuracies, mode_change
from experiments.report import markdown_table
from experiments.runner import Runner, Settings, by_variant, split
from experiments.stats import RULE
from lightning_mods.nets import MLP
from lightning_mods.norms import make_norm

INICIO = time.perf_counter()

# %% [markdown]
# ## Parámetros
#
# La celda siguiente lleva la etiqueta `parameters` (convención de papermill): `papermill -p NOMBRE valor`
# reemplaza estos valores sin tocar el cuaderno.

# %% tags=["parameters"]
DATOS = "real"              # "real": Fashion-MNIST; "sintetico": datos falsos de la misma forma (segundos)
SEMILLAS = 3                # semillas por variante: los intervalos de confianza son sobre semillas
EPOCAS = 3                  # épocas de cada corrida (None: las de cada ejercicio, como en reports/)
IMAGENES_POR_EPOCA = 4096   # ejercicio 4: imágenes de entrenamiento por época, igual para todo tamaño de batch
TRABAJADORES = 0            # corridas en paralelo, una por proceso (0: una por núcleo)
OCULTAS_PARIDAD = [512, 256, 128, 64]  # el MLP de la sección "Keras vs PyTorch"

# %%
FUENTES = {"real": "real", "sintetico": "synthetic"}  # nombre en el cuaderno -> nombre en el proyecto
if DATOS not in FUENTES:
    raise ValueError(f'DATOS = {DATOS!r} no es válido; usa "real" o "sintetico"')
pool = PoolSettings(workers=TRABAJADORES)
settings = Settings(seeds=SEMILLAS, epochs=EPOCAS, data=FUENTES[DATOS], progress=False,  # sin barras de progreso
                    images_per_epoch=IMAGENES_POR_EPOCA, pool=pool)
runner = Runner(settings)  # entrena cada corrida una sola vez: las compartidas entre ejercicios salen del caché
CARPETA = Path(tempfile.mkdtemp(prefix="clase110-"))  # los informes (report.md, PNG) van a una carpeta temporal
RAIZ = Path(lightning_mods.__file__).resolve().parents[1]  # la raíz del proyecto (para scripts/)

VEREDICTOS = {"supported": "respaldada", "contradicted": "contradicha", "inconclusive": "no concluyente"}
TODAS = {}  # ejercicio -> sus afirmaciones, para el resumen final


def correr(nombre):
    # Entrena (o toma del caché) las corridas del ejercicio con el runner del proyecto y devuelve su Report;
    # los avisos del proyecto (una línea por corrida) se muestran una sola vez.
    inicio = time.perf_counter()
    avisos = io.StringIO()
    with redirect_stderr(avisos):
        ((_, informe, corridas),) = run_experiments([nombre], runner, CARPETA)
    for linea in dict.fromkeys(avisos.getvalue().splitlines()):
        print(linea)
    print(f"{nombre}: {len(corridas)} corridas ({settings.seeds} semillas), {time.perf_counter() - inicio:.0f} s")
    return informe, corridas


def mostrar_tabla(informe):
    display(Markdown(markdown_table(informe.columns, informe.rows)))


def mostrar_figura(informe, archivo):
    display(Image(filename=str(CARPETA / informe.name / archivo)))


def intervalo(c):
    if math.isnan(c["low"]):
        return f"{c['mean']:.4g} (sin IC: {c['n']} semilla)"
    return f"{c['mean']:.4g} [{c['low']:.4g}, {c['high']:.4g}]"


def mostrar_veredictos(informe):
    # Las afirmaciones de la lección que el módulo del ejercicio comprueba: efecto medido, IC 95 %, veredicto.
    TODAS[informe.name] = informe.results["claims"]
    filas = []
    for c in informe.results["claims"]:
        filas.append([c["claim"], c["effect"], intervalo(c), f"{c['side']} {c['threshold']:g}", str(c["n"]),
                      f"**{VEREDICTOS[c['verdict']]}** ({c['verdict']})"])
    display(Markdown(markdown_table(["afirmación", "efecto", "media [IC 95 %]", "se afirma", "semillas", "veredicto"],
                                    filas)))


print(f"datos {DATOS}, {SEMILLAS} semillas, épocas {EPOCAS or 'las de cada ejercicio'}, "
      f"{pool.n_workers} proceso(s) de {pool.n_threads} hilo(s) torch, {machine_cores()} núcleos")

# %% [markdown]
# **Cómo leer los veredictos.** Cada afirmación de la lección se mide como una diferencia (o un cociente)
# **por semilla** entre variantes: la semilla *s* da a todas las variantes los mismos pesos iniciales y el
# mismo orden de imágenes. El intervalo es de Student *t* al 95 % sobre semillas (cocientes: *t* sobre
# los log-cocientes). La regla (`experiments/stats.py`): **respaldada** si todo el intervalo
# cae del lado afirmado del umbral, **contradicha** si cae entero del otro lado, **no concluyente** si lo
# cruza. Con pocas semillas los intervalos son anchos (con 3 semillas, *t* = 4.3): "no concluyente" dice
# que hacen falta más semillas, no que la afirmación sea falsa.

# %% [markdown]
# ## Objetivo
#
# Entender **BatchNorm** (Ioffe & Szegedy 2015), la técnica que destrabó el entrenamiento de redes muy
# profundas estandarizando las activaciones en cada capa, y su variante **LayerNorm** (Ba, Kiros & Hinton
# 2016), usada en Transformers y RNN porque no depende del batch. Saber dónde poner BN en la arquitectura,
# qué problemas tiene (batch chico, distribución distinta entre train e inference) y cuándo preferir LN.
#
# Al terminar deberías poder:
#
# - poner la normalización antes o después de la activación (`placement="pre"` / `"post"` en el proyecto);
# - explicar qué hace BN en entrenamiento (estadísticas del batch) y en inferencia (medias móviles);
# - usar LayerNorm en una RNN y saber por qué ahí BN falla;
# - reconocer las variantes BN, LN, GroupNorm (Wu & He 2018) e InstanceNorm;
# - diagnosticar el *train-test mismatch* cuando el batch de inferencia es muy distinto al de entrenamiento.
#
# Datos: Fashion-MNIST (55 000 imágenes de entrenamiento, las últimas 5 000 de validación, como Géron) y el
# MLP [512, 256, 128, 64, 10].

# %% [markdown]
# ## Las normalizaciones
#
# Todas estandarizan una activación $x$ con una media $\mu$ y una varianza $\sigma^2$ y luego aplican una
# escala $\gamma$ y un corrimiento $\beta$ entrenables (que permiten a la red deshacer la normalización si
# le conviene):
#
# $$y = \gamma \cdot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta$$
#
# Lo que cambia es **sobre qué se calculan** $\mu$ y $\sigma^2$. Para activaciones $x_{b,c}$ (muestra $b$ de un
# batch de $B$, *feature* o canal $c$ de $C$):
#
# | norma | $\mu$, $\sigma^2$ sobre | fórmula de $\mu$ | depende del batch | en el proyecto |
# |---|---|---|---|---|
# | **BatchNorm** | el batch, por feature | $\mu_c = \frac{1}{B}\sum_b x_{b,c}$ | sí (en train) | `make_norm("bn", C)` |
# | **LayerNorm** | los features de una muestra | $\mu_b = \frac{1}{C}\sum_c x_{b,c}$ | no | `make_norm("ln", C)` |
# | **GroupNorm** | cada grupo $g$ de $C/G$ features de una muestra | $\mu_{b,g} = \frac{G}{C}\sum_{c \in g} x_{b,c}$ | no | `make_norm("gn", C, groups=G)` |
# | **InstanceNorm** | cada canal de una muestra, sobre sus posiciones $t$ (imágenes, secuencias) | $\mu_{b,c} = \frac{1}{T}\sum_t x_{b,c,t}$ | no | GroupNorm con `groups=C` |
#
# **BN en entrenamiento vs inferencia.** En entrenamiento BN usa $\mu$ y $\sigma^2$ del batch actual y además
# actualiza medias móviles (EMA); en inferencia usa esas medias móviles fijas. En Keras:
# `moving = 0.99·moving + 0.01·batch` (`momentum=0.99`); en torch la misma cuenta se escribe `momentum=0.01`
# (torch usa `1 - m`). Los valores por defecto del proyecto son los de Keras ($\varepsilon = 10^{-3}$).
# LN, GN e InstanceNorm hacen la misma cuenta en entrenamiento y en inferencia.
#
# La celda siguiente aplica las capas del proyecto a un mismo tensor y mide qué queda con media 0 y
# varianza 1.

# %%
torch.manual_seed(0)
x = 3 + 2 * torch.randn(16, 8)  # (B=16 muestras, C=8 features), media 3 y desvío 2
capas = {"bn": make_norm("bn", 8).train(), "ln": make_norm("ln", 8), "gn (4 grupos)": make_norm("gn", 8, groups=4)}
filas = []
with torch.no_grad():
    for nombre, capa in capas.items():
        y = capa(x)
        por_feature = y.mean(dim=0).abs().max().item()            # media de cada columna (sobre el batch)
        por_muestra = y.mean(dim=1).abs().max().item()            # media de cada fila (sobre los features)
        por_grupo = y.reshape(16, 4, 2).mean(dim=2).abs().max().item()
        filas.append([nombre, f"{por_feature:.1e}", f"{por_muestra:.1e}", f"{por_grupo:.1e}"])
display(Markdown(markdown_table(["capa", "máx |media por feature|", "máx |media por muestra|", "máx |media por grupo|"],
                                filas)))

# InstanceNorm: por muestra y por canal, sobre las posiciones. Es GroupNorm con un grupo por canal.
seq = torch.randn(4, 6, 10)  # (B, C, T)
gn_por_canal = make_norm("gn", 6, groups=6, eps=1e-5)
with torch.no_grad():
    distancia = (gn_por_canal(seq) - nn.InstanceNorm1d(6, affine=False)(seq)).abs().max().item()
print(f"GroupNorm con groups=C vs torch InstanceNorm1d: diferencia máxima {distancia:.1e}")

# %% [markdown]
# ## Ejercicio 1 — BN vs sin BN
#
# **La lección pide:** entrenar el mismo MLP con y sin BN, y comparar las curvas de `val_loss` y el tiempo
# (épocas y segundos) hasta llegar a accuracy 0.85.
#
# **En el proyecto:** `experiments/ex1.py` planifica las corridas (`norm` `none` y `bn`, BN antes
# de ReLU, SGD lr 0.01, batch 32, init He) y valida cada 0.1 época, así que el tiempo hasta 0.85 se mide con
# esa resolución, en épocas, pasos del optimizador y segundos de entrenamiento.

# %%
ex1_informe, ex1_corridas = correr("ex1")
print(ex1_informe.setup)
mostrar_tabla(ex1_informe)
mostrar_figura(ex1_informe, "val_loss.png")
mostrar_figura(ex1_informe, "val_acc.png")
mostrar_veredictos(ex1_informe)

# %% [markdown]
# Las bandas son el IC 95 % sobre semillas. Una semilla que no llega a 0.85 en las épocas dadas cuenta como
# la duración de la corrida (una cota inferior), y la tabla lo avisa: con pocas épocas el cociente queda
# acotado y la comparación es conservadora.

# %% [markdown]
# ## Ejercicio 2 — ¿Antes o después de la activación?
#
# **La lección pide:** probar Dense → BN → ReLU contra Dense → ReLU → BN y comparar. Afirma que *antes*
# funciona mejor con ReLU y *después* con GELU/Swish.
#
# **En el proyecto:** `ex2.py` entrena las seis combinaciones `placement` ∈ {`pre`, `post`} ×
# `activation` ∈ {`relu`, `gelu`, `silu`} (SiLU es Swish con β = 1, el `"swish"` de Keras) y compara la
# accuracy de validación final por semilla.

# %%
ex2_informe, ex2_corridas = correr("ex2")
mostrar_tabla(ex2_informe)
mostrar_figura(ex2_informe, "val_acc.png")
mostrar_veredictos(ex2_informe)

# %% [markdown]
# ## Ejercicio 3 — Modo inferencia
#
# **La lección pide:** entrenar con BN, predecir un batch con `training=False` y con `training=True`, y
# comparar: las predicciones cambian (y es correcto).
#
# **En el proyecto:** en torch el modo se elige con `net.eval()` / `net.train()`. `ex3.py` entrena BN y LN
# con batch 128 y usa las sondas de `experiments/probes.py` (`mode_change`, sobre una copia,
# para no mover las medias móviles del modelo entrenado).

# %%
ex3_informe, ex3_corridas = correr("ex3")
mostrar_tabla(ex3_informe)
mostrar_veredictos(ex3_informe)

# La misma sonda, a mano, sobre el modelo BN de la primera semilla: un batch de 128 imágenes de validación.
imagenes, etiquetas = split(settings, "val")
red_bn = by_variant(ex3_corridas)["bn"][0].model.net
cambio = mode_change(red_bn, imagenes[:128])
print(f"BN: {100 * cambio['changed_fraction']:.1f}% de las predicciones cambian entre eval() y train(); "
      f"|Δlogit| medio {cambio['mean_abs_logit_change']:.3g}")
red_ln = by_variant(ex3_corridas)["ln"][0].model.net
print(f"LN: {100 * mode_change(red_ln, imagenes[:128])['changed_fraction']:.1f}% cambian (LN no depende del modo)")

# %% [markdown]
# ## Ejercicio 4 — Batch chico
#
# **La lección pide:** forzar `batch_size=4` con BN, observar la inestabilidad, cambiar a LayerNormalization y
# verificar que se estabiliza.
#
# **En el proyecto:** `ex4.py` entrena BN, LN y GN (8 grupos) con batch 2, 4, 8, 32 y 128. Para que la
# comparación sea justa, toda corrida ve las mismas `IMAGENES_POR_EPOCA` imágenes por época (un subconjunto
# al azar cada época), sea cual sea su batch: los batches chicos dan más pasos. La inestabilidad se mide como
# el desvío de la loss en los últimos 50 pasos.

# %%
ex4_informe, ex4_corridas = correr("ex4")
mostrar_tabla(ex4_informe)
mostrar_figura(ex4_informe, "val_acc_vs_batch.png")
mostrar_veredictos(ex4_informe)

# %% [markdown]
# La columna `gap` es la accuracy en modo entrenamiento menos la de inferencia: solo BN la tiene. Con batch
# 128 y pocas épocas hay pocos pasos, y las medias móviles (momentum 0.99 en Keras) todavía no alcanzaron a
# las estadísticas del batch: en inferencia BN usa valores viejos.

# %% [markdown]
# ## Ejercicio 5 — LayerNorm en una RNN
#
# **La lección pide:** un `keras.layers.LSTM` con una `LayerNormalization` previa (anticipo de los Transformers).
#
# **En el proyecto:** `LSTMClassifier` (`lightning_mods/nets.py`) lee las 28 filas de la imagen como una
# secuencia de 28 pasos de 28 píxeles, con una norma opcional sobre los features de entrada. `ex5.py` compara
# la LSTM sola, con LN antes y con BN antes (el error de la lección "BN en una RNN"), con Adam lr 0.001 y
# batch 128.

# %%
ex5_informe, ex5_corridas = correr("ex5")
mostrar_tabla(ex5_informe)
mostrar_figura(ex5_informe, "val_acc.png")
mostrar_veredictos(ex5_informe)

# %% [markdown]
# ## Tarea (homework verificable)
#
# Sobre el MLP [512, 256, 128, 64, 10] en Fashion-MNIST:
#
# 1. entrenar 3 versiones: sin norma, con BN, con LN;
# 2. reportar `val_accuracy` y las épocas hasta `val_loss < 0.4`;
# 3. entrenar BN con `batch_size=128` e inferir batch por batch de tamaño 1: el accuracy no se rompe
#    (gracias a las medias móviles).
#
# **Criterio de aceptación:** BN debe acelerar la convergencia ≥ 30 % (menos épocas para la misma loss); LN
# debe ser estable, típicamente algo peor que BN en un MLP.
#
# **En el proyecto:** `homework.py`; el modelo BN de batch 128 es la misma corrida del ejercicio 3 (sale del
# caché), y `probes.batch1_inference` predice cada imagen de validación sola.

# %%
tarea_informe, tarea_corridas = correr("homework")
mostrar_tabla(tarea_informe)
mostrar_figura(tarea_informe, "val_loss.png")
mostrar_veredictos(tarea_informe)

filas = [[str(b["seed"]), f"{b['batched_acc']:.4f}", f"{b['batch1_acc']:.4f}", str(b["differing_predictions"]),
          f"{b['max_abs_logit_diff']:.2g}"] for b in tarea_informe.results["batch1"]]
display(Markdown(markdown_table(["semilla", "acc. en batches", "acc. de a 1", "predicciones distintas", "máx |Δlogit|"],
                                filas)))

# %% [markdown]
# ## Keras vs PyTorch
#
# La lección está escrita en Keras; el proyecto entrena en torch. Las dos BatchNorm hacen lo mismo, pero con
# convenciones distintas que hay que traducir (tabla de `parity/conventions.py`, la única fuente de la que se
# derivan los dos lados):

# %%
# TensorFlow escribe líneas de registro de C++ al cargarse (directo al descriptor 2): se descartan solo durante el import.
stderr_original = os.dup(2)
with open(os.devnull, "w") as nulo:
    os.dup2(nulo.fileno(), 2)
    try:
        import parity  # el lado torch ya está importado; ahora Keras sobre TensorFlow
    finally:
        os.dup2(stderr_original, 2)
        os.close(stderr_original)
import keras
import numpy as np
from keras_ref.training import logits as keras_logits
from parity.compare import build_pair, compare_pair, make_batches, moving_variance_step, pair_from, torch_logits
from parity.conventions import NetSpec, format_table, matched_pair, raw_defaults_pair
from parity.transfer import keras_arrays, paired_layers

display(Markdown(format_table()))

# %% [markdown]
# Construimos un MLP con BN en Keras (`keras_ref.build_mlp`) y su gemelo en torch (`lightning_mods.nets`),
# con los hiperparámetros traducidos por la tabla (`matched_pair`), y copiamos los pesos de torch a Keras
# (`parity.transfer`). Después pasamos el mismo batch por los dos, primero en inferencia y luego en
# entrenamiento (que además actualiza las medias móviles de los dos lados).

# %%
spec = NetSpec(norm="bn", hidden_units=OCULTAS_PARIDAD)  # el MLP en palabras de Keras
config, keras_kwargs = matched_pair(spec)                 # -> NetConfig de torch + argumentos de build_mlp
par = build_pair(config, keras_kwargs, seed=0)            # red torch con semilla, modelo Keras, pesos copiados
x, _ = make_batches(1, 32, seed=1000)[0]                  # un batch (32, 28, 28) float32

salidas = {"torch eval()": torch_logits(par.net, x, training=False),
           "Keras training=False": keras_logits(par.model, x, training=False),
           "torch train()": torch_logits(par.net, x, training=True),
           "Keras training=True": keras_logits(par.model, x, training=True)}
filas = [[f"logit {k}"] + [f"{v[0, k]:+.5f}" for v in salidas.values()] for k in range(10)]
display(Markdown("**Logits de la primera imagen del batch**\n\n" + markdown_table(["", *salidas], filas)))
dif_eval = np.abs(salidas["torch eval()"] - salidas["Keras training=False"]).max()
dif_train = np.abs(salidas["torch train()"] - salidas["Keras training=True"]).max()
cambio_modo = np.abs(salidas["torch eval()"] - salidas["torch train()"]).max()
print(f"máx |torch - Keras| en todo el batch: inferencia {dif_eval:.1e}, entrenamiento {dif_train:.1e}")
print(f"máx |entrenamiento - inferencia| (el efecto del modo, ejercicio 3): {cambio_modo:.3g}")


# %% [markdown]
# **La varianza móvil.** Tras ese paso en modo entrenamiento, los dos lados actualizaron sus medias móviles.
# Keras actualiza la varianza móvil con la varianza **sesgada** del batch (divide por $n$); torch por
# defecto con la **insesgada** (divide por $n-1$), aunque para normalizar use la sesgada. El par de arriba usa
# `bn_variance="biased"` (`KerasBatchNorm1d`, la regla de Keras); abajo, el mismo paso con la regla por
# defecto de torch:

# %%
def varianza_movil(bn_variance):
    cfg = copy.deepcopy(config)
    cfg.bn_variance = bn_variance
    p = build_pair(cfg, keras_kwargs, seed=0)
    torch_logits(p.net, x, training=True)
    keras_logits(p.model, x, training=True)
    modulo, capa = next((m, c) for tipo, m, c in paired_layers(p.net, p.model) if tipo == "bn")
    return modulo.running_var.numpy(), keras_arrays(capa)["moving_variance"]


sesgada_t, sesgada_k = varianza_movil("biased")
insesgada_t, insesgada_k = varianza_movil("unbiased")
filas = [[str(c), f"{sesgada_k[c]:.7f}", f"{sesgada_t[c]:.7f}", f"{insesgada_t[c]:.7f}"] for c in range(6)]
display(Markdown("**Varianza móvil de la primera BN (6 primeros canales) tras un paso**\n\n" + markdown_table(
    ["canal", "Keras", "torch, bn_variance='biased'", "torch por defecto ('unbiased')"], filas)))

for variante in ("biased", "unbiased"):
    cfg = copy.deepcopy(config)
    cfg.bn_variance = variante
    paso = moving_variance_step(cfg, keras_kwargs, 32)
    print(f"bn_variance={variante!r:<11} torch vs Keras: diferencia relativa {paso.raw.rel:.1e}; "
          f"torch vs la predicción m·var·(n/(n-1) - 1): {paso.residual.rel:.1e}")

# %% [markdown]
# **Veinte pasos de SGD en los dos lados.** `parity.compare.compare_pair` entrena los dos gemelos con los mismos
# batches y compara pesos, medias móviles y logits de inferencia (tolerancias: 1e-5 en los pasos hacia
# adelante, 1e-4 tras los pasos). El par traducido coincide; el par con los valores por defecto de cada
# framework (torch `momentum=0.1`, `eps=1e-5`; Keras `0.99`, `1e-3`) no:

# %%
for nombre, armar in (("traducido por la tabla", matched_pair), ("valores por defecto de cada uno", raw_defaults_pair)):
    r = compare_pair(*armar(spec))
    medias = f"{r.moving.rel:.1e}" if r.moving else "-"
    print(f"{nombre:<32} train {r.train.rel:.1e}  eval {r.eval.rel:.1e}  pesos {r.weights.rel:.1e}  "
          f"medias móviles {medias}  logits tras los pasos {r.eval_after.rel:.1e}  -> "
          f"{'coinciden' if r.passed else 'DIFIEREN'}")

# %% [markdown]
# **Un modelo entrenado con Lightning, en Keras.** Los pesos del modelo BN del ejercicio 3 (entrenado por el
# proyecto) pasan a un modelo Keras, que predice lo mismo en inferencia sobre toda la validación:

# %%
ajuste = by_variant(ex3_corridas)["bn"][0]
red = copy.deepcopy(ajuste.model.net).eval()
kwargs_entrenado = NetSpec(norm="bn", hidden_units=ajuste.spec.config.hidden).keras_kwargs()
gemelo = pair_from(red, ajuste.spec.config.net_config(), kwargs_entrenado)
xv, yv = as_float(imagenes).numpy(), etiquetas.numpy()
pred_torch = torch_logits(gemelo.net, xv, training=False).argmax(1)
pred_keras = keras_logits(gemelo.model, xv, training=False).argmax(1)
print(f"{len(yv)} imágenes de validación: acc torch {np.mean(pred_torch == yv):.4f}, acc Keras "
      f"{np.mean(pred_keras == yv):.4f}, predicciones iguales {np.mean(pred_torch == pred_keras):.4%}")

# %% [markdown]
# ## Errores comunes
#
# Cada error de la lección, provocado en vivo. Las celdas atrapan el error y muestran su mensaje, para que el
# cuaderno siga corriendo.
#
# ### 1. BN con `batch_size=1` en entrenamiento
#
# La media del batch es la muestra misma y $\sigma = 0$. torch lo rechaza, Keras devuelve $\beta$ en silencio,
# y el proyecto lo rechaza antes de entrenar con un error de una línea que dice cómo arreglarlo.

# %%
salida = subprocess.run([sys.executable, "scripts/train.py", "--data", "synthetic", "--norm", "bn", "--batch-size", "1",
                         "--epochs", "1", "--no-progress"], cwd=RAIZ, capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(RAIZ), os.environ.get("PYTHONPATH", "")])})
print(f"$ python scripts/train.py --norm bn --batch-size 1   (código de salida {salida.returncode})")
print(salida.stderr.strip().splitlines()[-1])

try:  # lo mismo desde Python: el DataModule del proyecto
    from lightning_mods.data import FashionMNISTDataModule
    FashionMNISTDataModule(data=FUENTES[DATOS], batch_size=1, norm="bn")
except UsageError as err:
    print(f"FashionMNISTDataModule: error: {err}")

try:  # torch por sí solo
    nn.BatchNorm1d(4).train()(torch.randn(1, 4))
except ValueError as err:
    print(f"torch BatchNorm1d: ValueError: {err}")

una = np.random.default_rng(0).random((1, 4), dtype="float32")
print(f"Keras BatchNormalization, training=True: {keras.ops.convert_to_numpy(keras.layers.BatchNormalization()(una, training=True))}"
      "  (= beta, sin aviso)")

# %% [markdown]
# ### 2. Métricas de validación muy distintas de las de entrenamiento (olvidar `eval()`)
#
# Las estadísticas de BN en inferencia no son las del batch. En torch, olvidar `net.eval()` al evaluar deja la
# red en modo entrenamiento: predice con las estadísticas de cada batch (que dependen del tamaño del batch) y,
# además, **mueve las medias móviles** con los datos de validación.

# %%
for batch in (128, 8, 2):
    m = mode_accuracies(red_bn, imagenes, etiquetas, batch)
    print(f"batch {batch:>3}: acc con eval() {m['eval_acc']:.4f}, olvidando eval() {m['train_mode_acc']:.4f}")

olvidada = copy.deepcopy(red_bn).train()  # una copia: el modelo del ejercicio no se toca
bn = next(m for m in olvidada.modules() if isinstance(m, nn.BatchNorm1d))
antes = bn.running_mean.clone()
with torch.no_grad():
    olvidada(as_float(imagenes[:256]))
print(f"una pasada 'de evaluación' sin eval() movió running_mean en {(bn.running_mean - antes).abs().max():.3g} (máx)")

# %% [markdown]
# ### 3. Olvidar `training=True/False` en un bucle propio de Keras
#
# En Keras, `model(x)` sin `training=` es inferencia: en un bucle de entrenamiento propio, BN normalizaría con
# las medias móviles (que entonces nunca se actualizan). `fit()` pasa `training=True` por sí solo.

# %%
modelo = build_pair(config, keras_kwargs, seed=0).model
sin_flag = keras.ops.convert_to_numpy(modelo(x))
print(f"model(x) vs model(x, training=False): máx diferencia {np.abs(sin_flag - keras_logits(modelo, x, False)).max():.1e}")
print(f"model(x) vs model(x, training=True):  máx diferencia {np.abs(sin_flag - keras_logits(modelo, x, True)).max():.3g}")

# %% [markdown]
# ### 4. BN en una RNN
#
# En una secuencia, BN promedia sobre el batch **y** los pasos de tiempo: las estadísticas cambian con la
# longitud y con los compañeros de batch. El proyecto lo entrena, pero lo avisa antes de empezar:

# %%
from lightning_mods.training import prepare

avisos = io.StringIO()
with redirect_stderr(avisos):
    prepare(settings.config(0, 1, arch="lstm", norm="bn", optimizer="adam", lr=0.001, batch_size=128))
print(avisos.getvalue().strip())
bn_rnn = {nombre: grupo for nombre, grupo in by_variant(ex5_corridas).items()}
for nombre, grupo in bn_rnn.items():
    m = mode_change(grupo[0].model.net, imagenes[:128])
    print(f"{nombre:<18} predicciones que cambian entre train() y eval(): {100 * m['changed_fraction']:.1f}%")

# %% [markdown]
# ### 5. BN en la última capa, antes del softmax
#
# Suele ser innecesario y a veces dañino. Los MLP del proyecto nunca ponen una norma después de la última
# capa lineal (la que da los logits):

# %%
print(MLP(hidden=[32, 16], norm="bn"))

# %% [markdown]
# ### 6. Un número de grupos que no divide los canales (GroupNorm)
#
# Otro error de una línea del proyecto, con la corrección sugerida:

# %%
try:
    make_norm("gn", 28, groups=32)
except UsageError as err:
    print(f"error: {err}")

# %% [markdown]
# ## Resumen: las afirmaciones de la lección, medidas
#
# Todas las afirmaciones comprobadas arriba, con su veredicto según la regla de `experiments/stats.py`.
# Las 28 afirmaciones comprobables de la lección entera (temas, errores comunes, preguntas frecuentes,
# referencias), con 5 semillas y los experimentos que faltan aquí, están en el registro del proyecto:
# [`reports/claims.md`](../reports/claims.md) (`python scripts/experiment.py claims`).

# %%
filas = [[nombre, c["claim"], intervalo(c), f"{c['side']} {c['threshold']:g}", VEREDICTOS[c["verdict"]]]
         for nombre, afirmaciones in TODAS.items() for c in afirmaciones]
display(Markdown(markdown_table(["ejercicio", "afirmación", "media [IC 95 %]", "se afirma", "veredicto"], filas)))
todas = [c for afirmaciones in TODAS.values() for c in afirmaciones]
cuenta = {v: sum(c["verdict"] == k for c in todas) for k, v in VEREDICTOS.items()}
print(", ".join(f"{n} {v}" for v, n in cuenta.items()))
print(f"Regla: {RULE}")

# %% [markdown]
# ## Tiempo

# %%
total = time.perf_counter() - INICIO
print(f"Esta ejecución: {total / 60:.1f} minutos (datos {DATOS}, {SEMILLAS} semillas, épocas {EPOCAS or 'por defecto'}, "
      f"{len(runner.cache)} corridas distintas, {pool.n_workers} proceso(s) de {pool.n_threads} hilo(s), "
      f"{machine_cores()} núcleos)")
