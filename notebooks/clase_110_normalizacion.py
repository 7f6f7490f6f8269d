# ---
# jupyter:
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
# *runner* de experimentos del proyecto (`experiments`), la comparación con Keras usa `keras_ref` y
# `parity`, y lo que el cuaderno muestra (tablas, figuras, comprobaciones) viene de `teaching`. No hay
# aquí ningún bucle de entrenamiento propio: cada celda llama al proyecto y muestra lo que midió.
#
# Hay dos ediciones generadas de la misma fuente (`notebooks/clase_110_normalizacion.py`): la del
# **alumno** (`clase_110_normalizacion.ipynb`), con celdas **Tu turno** para completar y una celda que
# revisa cada respuesta, y la del **docente** (`clase_110_normalizacion_docente.ipynb`), con las
# soluciones.
#
# **Cómo se ejecuta.** Con los valores por defecto (celda de parámetros) entrena en Fashion-MNIST real
# con **menos semillas y épocas que los informes del proyecto** (`reports/`, 5 semillas), para terminar
# en pocos minutos; `RAPIDO = True` con `DATOS = "sintético"` recorre todo en segundos. Los tiempos
# medidos (de esta ejecución y de las registradas por el propio cuaderno) aparecen aquí abajo al
# terminar:
#
# ```bash
# make notebook                          # genera las dos ediciones y las ejecuta con datos reales
# .venv/bin/jupyter lab notebooks/       # abrirlo en JupyterLab
# .venv/bin/papermill notebooks/clase_110_normalizacion.ipynb salida.ipynb -p DATOS sintético -p RAPIDO True
# ```

# %%
# Imports y configuración inicial
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm sin ipywidgets: las barras están apagadas

import copy

import lightning_mods  # el lado torch primero: TensorFlow importado antes que triton rompe el proceso
import numpy as np
import torch
from IPython.display import Markdown, display
from torch import nn

from experiments.probes import as_float, mode_accuracies, mode_change
from experiments.runner import by_variant, split
from experiments.stats import ratio_ci, verdict
from lightning_mods.errors import UsageError
from lightning_mods.nets import MLP, LSTMClassifier
from lightning_mods.norms import make_norm
from teaching import activations, display as mostrar, exercises as revisar, figures, ledger_view
from teaching.batchnorm_scratch import batch_norm, compare, example, frameworks, scratch
from teaching.keras_side import load_keras
from teaching.session import Lesson, record, recorded_lines
from teaching.spanish import es
from teaching.verdicts import report_of

keras = load_keras()  # Keras (TensorFlow) después de torch, sin las líneas de arranque de TensorFlow
tiempo = display(Markdown("*(el tiempo de esta ejecución aparece aquí al terminar)*"), display_id=True)

# %% [markdown]
# ## Parámetros
#
# La celda siguiente lleva la etiqueta `parameters` (convención de papermill): `papermill -p NOMBRE valor`
# reemplaza estos valores sin tocar el cuaderno.

# %% tags=["parameters"]
DATOS = "real"              # "real": Fashion-MNIST; "sintético" (o "sintetico"): datos falsos de la misma forma
RAPIDO = False              # True: 2 semillas, 1 época, 128 imágenes por época en el ej. 4 (el camino rápido)
SEMILLAS = 3                # semillas por variante: los intervalos de confianza son sobre semillas
EPOCAS = 3                  # épocas de cada corrida (None: las de cada ejercicio, como en reports/)
IMAGENES_POR_EPOCA = 2048   # ejercicio 4: imágenes de entrenamiento por época, igual para todo tamaño de batch
TRABAJADORES = 0            # corridas en paralelo, una por proceso (0: una por núcleo; con RAPIDO, 1)
OCULTAS_PARIDAD = [512, 256, 128, 64]  # el MLP de la sección "Keras vs PyTorch"
TIEMPOS = "tiempos.json"    # el registro de los tiempos medidos por este cuaderno (junto al cuaderno)
CORRIDAS = None             # carpeta donde guardar cada corrida terminada y retomarla (None: ninguna); make notebook
                            # la comparte entre las dos ediciones, así la del docente no vuelve a entrenar

# %%
clase = Lesson(DATOS, SEMILLAS, EPOCAS, IMAGENES_POR_EPOCA, TRABAJADORES, OCULTAS_PARIDAD, quick=RAPIDO, runs=CORRIDAS)
settings = clase.settings
print(clase.describe())
if clase.synthetic:
    mostrar.show("> **Datos sintéticos:** los números de este cuaderno solo prueban que funciona; no se juzga la "
                 "lección con ellos (ningún veredicto propio, solo los de los informes en datos reales).")

# %% [markdown]
# **Cómo leer los veredictos.** Cada afirmación de la lección se mide como una diferencia (o un cociente)
# **por semilla** entre variantes: la semilla *s* da a todas las variantes los mismos pesos iniciales y el
# mismo orden de imágenes. El intervalo es de Student *t* al 95 % sobre semillas (cocientes: *t* sobre
# los log-cocientes). La regla (`experiments/stats.py`): **respaldada** si todo el intervalo
# cae del lado afirmado del umbral, **contradicha** si cae entero del otro lado, **no concluyente** si lo
# cruza. Con pocas semillas los intervalos son anchos (con 3 semillas, *t* = 4.3): "no concluyente" dice
# que hacen falta más semillas, no que la afirmación sea falsa. Cada tabla pone al lado el veredicto del
# informe del proyecto (5 semillas, datos reales) y, cuando difieren, una frase que dice por qué.

# %% [markdown]
# ## Objetivo
#
# Entender **BatchNorm** (Ioffe & Szegedy 2015), la técnica que destrabó el entrenamiento de redes muy
# profundas estandarizando las activaciones en cada capa, y su variante **LayerNorm** (Ba, Kiros & Hinton
# 2016), usada en Transformers y RNN porque no depende del batch. Saber dónde poner BN en la arquitectura,
# qué problemas tiene (batch chico, distribución distinta entre entrenamiento e inferencia) y cuándo
# preferir LN.
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
# MLP [512, 256, 128, 64, 10]. Usamos **la exactitud** (*accuracy*) para la fracción de aciertos.

# %% [markdown]
# ## El modelo
#
# En Keras, Géron arma el modelo en cinco líneas (`Dense` → `BatchNormalization` → `Activation`). Aquí la
# fábrica del proyecto (`lightning_mods.nets.MLP`, que usa `lightning_mods.norms.make_norm`) arma lo mismo:

# %%
red = MLP(hidden=[512, 256, 128, 64], norm="bn", placement="pre", activation="relu")
print(red)

# %% [markdown]
# Su resumen, capa por capa: BN entrena **gamma** (`weight`) y **beta** (`bias`), dos por unidad; sus
# **medias móviles** (`running_mean`, `running_var`) no se entrenan por gradiente, se actualizan en cada
# paso de entrenamiento. La `Linear` antes de BN no tiene sesgo: beta ya lo hace.

# %%
mostrar.table(figures.SUMMARY_COLUMNS, figures.summary_rows(red))
entrenables = sum(p.numel() for p in red.parameters() if p.requires_grad)
no_entrenables = sum(b.numel() for n, b in red.named_buffers() if "running" in n)
print(f"parámetros entrenables: {entrenables:,}; medias móviles (no entrenables): {no_entrenables:,}")

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
# | **BatchNorm** | el batch, por feature | $\mu_c = \frac{1}{B}\sum_b x_{b,c}$ | sí (en entrenamiento) | `make_norm("bn", C)` |
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
# La celda siguiente aplica las capas del proyecto a un mismo tensor y mide qué queda con **media 0 y
# varianza 1**, y sobre qué.

# %%
torch.manual_seed(0)
x = 3 + 2 * torch.randn(16, 8)  # (B=16 muestras, C=8 features), media 3 y desvío 2
capas = {"bn": make_norm("bn", 8).train(), "ln": make_norm("ln", 8), "gn (4 grupos)": make_norm("gn", 8, groups=4)}
filas = []
with torch.no_grad():
    for nombre, capa in capas.items():
        y = capa(x)
        grupos = y.reshape(16, 4, 2)
        filas.append([nombre, f"{y.mean(0).abs().max():.1e}", f"{(y.var(0, unbiased=False) - 1).abs().max():.1e}",
                      f"{y.mean(1).abs().max():.1e}", f"{(y.var(1, unbiased=False) - 1).abs().max():.1e}",
                      f"{grupos.mean(2).abs().max():.1e}"])
mostrar.table(["capa", "máx |media por feature|", "máx |varianza por feature - 1|", "máx |media por muestra|",
               "máx |varianza por muestra - 1|", "máx |media por grupo|"], filas)

seq = torch.randn(4, 6, 10)  # (B, C, T): InstanceNorm es GroupNorm con un grupo por canal
with torch.no_grad():
    distancia = (make_norm("gn", 6, groups=6, eps=1e-5)(seq) - nn.InstanceNorm1d(6, affine=False)(seq)).abs().max()
print(f"GroupNorm con groups=C frente a InstanceNorm1d de torch: diferencia máxima {distancia:.1e}")

# %% [markdown]
# Las varianzas por feature de BN quedan algo por debajo de 1 porque $\varepsilon = 10^{-3}$ se suma a la
# varianza antes de dividir (aquí $\sigma^2 \approx 4$, así que la diferencia es del orden de $10^{-4}$).
#
# ## Batch norm desde cero
#
# BN en unas quince líneas de numpy (la función `batch_norm` de `teaching/batchnorm_scratch.py`, como la de
# d2l): en **entrenamiento** normaliza con la media y la varianza del batch y mueve las medias móviles; en
# **inferencia** normaliza con las medias móviles.
#
# ```python
# def batch_norm(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, eps=1e-3):
#     if training:
#         mean = x.mean(axis=0)
#         var = ((x - mean) ** 2).mean(axis=0)   # sesgada: divide por B
#         moving_mean = momentum * moving_mean + (1 - momentum) * mean
#         moving_var = momentum * moving_var + (1 - momentum) * var
#     else:
#         mean, var = moving_mean, moving_var
#     x_hat = (x - mean) / np.sqrt(var + eps)
#     return gamma * x_hat + beta, moving_mean, moving_var
# ```
#
# La comparamos, en los dos modos, con `nn.BatchNorm1d` de torch (momentum y épsilon traducidos), con
# `KerasBatchNorm1d` del proyecto y con `BatchNormalization` de Keras, con la tolerancia del proyecto para
# un paso hacia adelante (`parity.compare.FORWARD_RTOL`, diferencia relativa al mayor valor):

# %%
datos_bn = example(seed=0)
filas = [[r["framework"], {"train": "salida en entrenamiento", "moving_mean": "media móvil tras un paso",
                           "moving_var": "varianza móvil tras un paso", "infer": "salida en inferencia"}[r["what"]],
          f"{r['rel']:.1e}", "coincide" if r["ok"] else "difiere"]
         for r in compare(scratch(batch_norm, datos_bn), frameworks(datos_bn))]
mostrar.table(["capa", "qué", "diferencia relativa", "con la tolerancia 1e-5"], filas)

# %% [markdown]
# Una sola fila difiere a propósito: `nn.BatchNorm1d` actualiza su varianza móvil con la varianza
# **insesgada** del batch (divide por $B-1$), Keras con la **sesgada** (divide por $B$), y por eso también
# difiere su salida en inferencia, que usa esa varianza. `KerasBatchNorm1d` (`bn_variance="biased"`) sigue
# la regla de Keras y coincide en todo. (Más detalle en la sección *Keras vs PyTorch*.)
#
# ## Qué hace la normalización a las activaciones
#
# Lo que entra en cada activación (ReLU) del MLP, capa por capa, en un paso de entrenamiento con un batch de
# 512 imágenes de validación (BN con las estadísticas del batch; sobre una copia, sin mover nada): con y sin
# BN, al inicio (pesos iniciales del proyecto, init He) y tras entrenar (los modelos del ejercicio 1, más
# abajo; aquí se entrenan primero).

# %%
ex1_informe, ex1_corridas = clase.run("ex1")
imagenes, etiquetas = split(settings, "val")
lote = as_float(imagenes[:512])
redes = {"sin norma, al inicio": activations.initial_mlp("none"), "BN, al inicio": activations.initial_mlp("bn"),
         "sin norma, entrenada": by_variant(ex1_corridas)["none"][0].model.net,
         "BN, entrenada": by_variant(ex1_corridas)["bn"][0].model.net}
mostrar.table(["red", "capa", "media", "desvío", "unidades lejos de media 0 y desvío 1"],
              activations.layer_stats(redes, lote))
mostrar.figure(activations.histograms(redes, lote, "Entrada de cada ReLU, por capa (512 imágenes de validación)"),
               "Histogramas de la entrada de cada ReLU en las cuatro capas ocultas, para el MLP sin norma y con BN, "
               "al inicio y entrenado: con BN cada capa queda centrada en 0 con desvío cercano a 1")

# %% [markdown]
# Sin norma, la media y la escala de cada capa dependen de los pesos y cambian al entrenar; con BN cada capa
# entra a la ReLU centrada y con una escala fija por $\gamma$ y $\beta$ (al inicio, $\gamma = 1$ y $\beta = 0$:
# media 0 y desvío 1 exactos), al inicio y después de entrenar.
#
# ## Por qué ayuda BN
#
# **La explicación original** (Ioffe & Szegedy 2015): al entrenar, la distribución de la entrada de cada capa
# cambia porque cambian las capas anteriores (*internal covariate shift*); BN la fija y cada capa aprende
# sobre una entrada estable. **La explicación medida después** (Santurkar et al. 2018, *How Does Batch
# Normalization Help Optimization?*): agregaron ruido *después* de BN (más covariate shift, no menos) y BN
# igual ayudaba; lo que BN cambia es el **paisaje de la pérdida**: lo vuelve más suave (la pérdida y el
# gradiente cambian menos al dar un paso), y por eso se pueden dar pasos más largos.
#
# El proyecto mide lo segundo como en su figura 4 (`experiments/landscape.py`): en cada paso, la pérdida y
# el gradiente a lo largo de $-g$ para varios largos de paso, con y sin BN. Lo que dice el registro:

# %%
registro = ledger_view.load()
mostrar.show(ledger_view.sentence(registro.get(27), 27))
mostrar.image_file(clase.reports / "landscape" / "landscape.png",
                   "Figura del informe landscape (en inglés): para tasas de aprendizaje 0.1 y 0.5, (a) el rango de la "
                   "pérdida a lo largo del gradiente, (b) cuánto cambia el gradiente y (c) la beta-suavidad efectiva, "
                   "paso a paso; las curvas de BN quedan por debajo de las de sin norma")

# %% [markdown]
# La figura es la del informe del proyecto (5 semillas, datos reales; sus rótulos están en inglés): columnas
# (a) rango de la pérdida a lo largo de $-g$, (b) cambio del gradiente, (c) beta-suavidad efectiva; filas:
# tasa de aprendizaje 0.1 y 0.5; eje x: paso del optimizador. Más abajo = más suave.
#
# ## Ejercicio 1 — BN vs sin BN
#
# **La lección pide:** entrenar el mismo MLP con y sin BN, y comparar las curvas de `val_loss` y el tiempo
# (épocas y segundos) hasta llegar a una exactitud de 0.85.
#
# **En el proyecto:** `experiments/ex1.py` planifica las corridas (`norm` `none` y `bn`, BN antes
# de ReLU, SGD lr 0.01, batch 32, init He) y valida cada 0.1 época, así que el tiempo hasta 0.85 se mide con
# esa resolución, en épocas, pasos del optimizador y segundos de entrenamiento. (Se entrenó arriba.)

# %%
mostrar.report_table(ex1_informe)
mostrar.report_figure(ex1_informe, "val_loss.png", "Pérdida de validación por época, sin norma y con BN, "
                      "media sobre semillas con su banda del IC 95 %")
mostrar.report_figure(ex1_informe, "val_acc.png", "Exactitud de validación por época, sin norma y con BN, "
                      "media sobre semillas con su banda del IC 95 %")
clase.verdicts(ex1_informe)

# %% [markdown]
# Las bandas son el IC 95 % sobre semillas. Una semilla que no llega a 0.85 en las épocas dadas cuenta como
# la duración de la corrida (una cota inferior), y la tabla lo avisa: con pocas épocas el cociente queda
# acotado y la comparación es conservadora.
#
# ### Tu turno (ejercicio 1)
#
# ¿Cuántos parámetros **entrenables** le agrega BN al MLP [512, 256, 128, 64] de la lección? Pista: construí
# `MLP(norm="bn")` y `MLP(norm="none")` con la fábrica y contá `p.numel()` de los parámetros con
# `requires_grad`. Guardá el número en `parametros_bn`.

# %% tags=["alumno"]
parametros_bn = None  # tu respuesta

# %% tags=["solucion"]
def entrenables(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


parametros_bn = entrenables(MLP(norm="bn")) - entrenables(MLP(norm="none"))
print(parametros_bn)

# %%
print(revisar.check_bn_parameters(parametros_bn))

# %% [markdown]
# ## Ejercicio 2 — ¿Antes o después de la activación?
#
# **La lección pide:** probar Dense → BN → ReLU contra Dense → ReLU → BN y comparar. Afirma que *antes*
# funciona mejor con ReLU y *después* con GELU/Swish.
#
# **En el proyecto:** `ex2.py` entrena las seis combinaciones `placement` ∈ {`pre`, `post`} ×
# `activation` ∈ {`relu`, `gelu`, `silu`} (SiLU es Swish con β = 1, el `"swish"` de Keras) y compara la
# exactitud de validación final por semilla.

# %%
ex2_informe, ex2_corridas = clase.run("ex2")
mostrar.report_table(ex2_informe)
mostrar.report_figure(ex2_informe, "val_acc.png", "Exactitud de validación por época para BN antes y después de "
                      "ReLU, GELU y SiLU, media sobre semillas con su banda del IC 95 %")
clase.verdicts(ex2_informe)

# %% [markdown]
# ### Tu turno (ejercicio 2)
#
# Con la fábrica del proyecto, armá un MLP chico (`hidden=[32, 16]`) con **GELU** y BN **después** de la
# activación. Guardalo en `red_post`.

# %% tags=["alumno"]
red_post = None  # tu respuesta: MLP(...)

# %% tags=["solucion"]
red_post = MLP(hidden=[32, 16], norm="bn", placement="post", activation="gelu")

# %%
print(revisar.check_post_gelu(red_post))

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
ex3_informe, ex3_corridas = clase.run("ex3")
mostrar.report_table(ex3_informe)
clase.verdicts(ex3_informe)

# La misma sonda, a mano, sobre el modelo BN de la primera semilla: un batch de 128 imágenes de validación.
red_bn = by_variant(ex3_corridas)["bn"][0].model.net
cambio = mode_change(red_bn, imagenes[:128])
print(f"BN: {100 * cambio['changed_fraction']:.1f} % de las predicciones cambian entre eval() y train(); "
      f"|Δlogit| medio {cambio['mean_abs_logit_change']:.3g}")
red_ln = by_variant(ex3_corridas)["ln"][0].model.net
print(f"LN: {100 * mode_change(red_ln, imagenes[:128])['changed_fraction']:.1f} % cambian (LN no depende del modo)")

# %% [markdown]
# ### Tu turno (ejercicio 3)
#
# Escribí tu propia batch norm, `mi_batch_norm(x, gamma, beta, moving_mean, moving_var, training)`, en numpy,
# con la convención de Keras (`momentum=0.99`, `eps=1e-3`, varianza sesgada) y sin mirar la de arriba. La
# revisión la compara con torch y con Keras en los dos modos.

# %% tags=["alumno"]
mi_batch_norm = None  # tu respuesta: def mi_batch_norm(x, gamma, beta, moving_mean, moving_var, training): ...

# %% tags=["solucion"]
def mi_batch_norm(x, gamma, beta, moving_mean, moving_var, training, momentum=0.99, eps=1e-3):
    if training:
        media, var = x.mean(axis=0), x.var(axis=0)  # np.var es la sesgada (ddof=0)
        moving_mean = momentum * moving_mean + (1 - momentum) * media
        moving_var = momentum * moving_var + (1 - momentum) * var
    else:
        media, var = moving_mean, moving_var
    return gamma * (x - media) / np.sqrt(var + eps) + beta, moving_mean, moving_var

# %%
print(revisar.check_batch_norm(mi_batch_norm))

# %% [markdown]
# ## Ejercicio 4 — Batch chico
#
# **La lección pide:** forzar `batch_size=4` con BN, observar la inestabilidad, cambiar a LayerNormalization y
# verificar que se estabiliza.
#
# **En el proyecto:** `ex4.py` entrena BN, LN y GN (8 grupos) con batch 2, 4, 8, 32 y 128. Para que la
# comparación sea justa, toda corrida ve las mismas `IMAGENES_POR_EPOCA` imágenes por época (un subconjunto
# al azar cada época), sea cual sea su batch: los batches chicos dan más pasos. La inestabilidad se mide como
# el desvío de la pérdida en los últimos 50 pasos; el *runner* guarda la pérdida de **cada paso**
# (`Fit.step_losses`), que es la curva de abajo.

# %%
ex4_informe, ex4_corridas = clase.run("ex4")
mostrar.report_table(ex4_informe)
mostrar.report_figure(ex4_informe, "val_acc_vs_batch.png", "Exactitud de validación según el tamaño de batch para "
                      "BN, LN y GN, con las mismas imágenes por corrida: BN cae con batches chicos")
grupos_ex4 = by_variant(ex4_corridas)
mostrar.figure(figures.step_losses({n: grupos_ex4[f"{n} batch 4"][0].step_losses for n in ("bn", "ln", "gn")}, 4),
               "Pérdida de entrenamiento en cada paso con batch 4 para BN, LN y GN (semilla 0), con su media móvil")
clase.verdicts(ex4_informe)

# %% [markdown]
# La columna de la brecha es la exactitud en modo entrenamiento menos la de inferencia: solo BN la tiene. Con
# batch 128 y pocas épocas hay pocos pasos, y las medias móviles (momentum 0.99 en Keras) todavía no alcanzaron
# a las estadísticas del batch: en inferencia BN usa valores viejos.
#
# ### Tu turno (ejercicio 4)
#
# Calculá el desvío (muestral) de la pérdida en los **últimos 50 pasos** de la corrida BN con batch 4, semilla 0
# (`grupos_ex4["bn batch 4"][0].step_losses`), y guardalo en `desvio_bn4`. ¿Es mayor que el de LN?

# %% tags=["alumno"]
desvio_bn4 = None  # tu respuesta

# %% tags=["solucion"]
import statistics

desvio_bn4 = statistics.stdev(grupos_ex4["bn batch 4"][0].step_losses[-50:])
print(desvio_bn4, statistics.stdev(grupos_ex4["ln batch 4"][0].step_losses[-50:]))

# %%
print(revisar.check_loss_spread(desvio_bn4, grupos_ex4["bn batch 4"][0].step_losses))

# %% [markdown]
# ## Ejercicio 5 — LayerNorm en una RNN
#
# **La lección pide:** un `keras.layers.LSTM` con una `LayerNormalization` previa (anticipo de los Transformers).
#
# **En el proyecto:** `LSTMClassifier` (`lightning_mods/nets.py`) lee las 28 filas de la imagen como una
# secuencia de 28 pasos de 28 píxeles, con una norma opcional sobre los features de entrada. `ex5.py` compara
# la LSTM sola, con LN antes y con BN antes (el error de la lección "BN en una RNN"), con Adam lr 0.001 y
# batch 128. La `nn.LSTM` de torch usa sigmoide en las compuertas y tanh en el estado: es el
# `recurrent_activation="sigmoid"` y `activation="tanh"` por defecto de Keras (`parity/conventions.py` lo
# traduce).

# %%
ex5_informe, ex5_corridas = clase.run("ex5")
mostrar.report_table(ex5_informe)
mostrar.report_figure(ex5_informe, "val_acc.png", "Exactitud de validación por época de la LSTM sola, con LN antes "
                      "y con BN antes, media sobre semillas con su banda del IC 95 %")
clase.verdicts(ex5_informe)

# %% [markdown]
# ### Tu turno (ejercicio 5)
#
# Armá con la fábrica una LSTM de 32 unidades con **LayerNorm** antes (`LSTMClassifier`) y guardala en
# `lstm_ln`. La revisión comprueba que da lo mismo en `train()` y en `eval()`.

# %% tags=["alumno"]
lstm_ln = None  # tu respuesta

# %% tags=["solucion"]
lstm_ln = LSTMClassifier(units=32, norm="ln")

# %%
print(revisar.check_lstm_ln(lstm_ln))

# %% [markdown]
# ## Tarea (homework verificable)
#
# Sobre el MLP [512, 256, 128, 64, 10] en Fashion-MNIST:
#
# 1. entrenar 3 versiones: sin norma, con BN, con LN;
# 2. reportar la exactitud de validación y las épocas hasta `val_loss < 0.4`;
# 3. entrenar BN con `batch_size=128` e inferir batch por batch de tamaño 1: la exactitud no se rompe
#    (gracias a las medias móviles).
#
# **Criterio de aceptación:** BN debe acelerar la convergencia ≥ 30 % (menos épocas para la misma pérdida);
# LN debe ser estable, típicamente algo peor que BN en un MLP.
#
# **En el proyecto:** `homework.py`; el modelo BN de batch 128 es la misma corrida del ejercicio 3 (sale del
# caché), y `probes.batch1_inference` predice cada imagen de validación sola.

# %%
tarea_informe, tarea_corridas = clase.run("homework")
mostrar.report_table(tarea_informe)
mostrar.report_figure(tarea_informe, "val_loss.png", "Pérdida de validación por época sin norma, con BN y con LN, "
                      "media sobre semillas con su banda del IC 95 %")
clase.verdicts(tarea_informe)
filas = [[str(b["seed"]), f"{b['batched_acc']:.4f}", f"{b['batch1_acc']:.4f}", str(b["differing_predictions"]),
          f"{b['max_abs_logit_diff']:.2g}"] for b in tarea_informe.results["batch1"]]
mostrar.table(["semilla", "exactitud en batches", "exactitud de a 1", "predicciones distintas", "máx |Δlogit|"], filas)

# %% [markdown]
# ### Tu turno (tarea)
#
# Aplicá la regla del proyecto al criterio de aceptación. Con las épocas hasta `val_loss < 0.4` de cada semilla
# (abajo), calculá el cociente BN / sin norma con su intervalo (`ratio_ci(bn, sin_norma)` de
# `experiments.stats`) en `estimacion`, y su veredicto para "BN necesita ≥ 30 % menos épocas", es decir
# cociente `< 0.7` (`verdict(estimacion, "<", 0.7)`), en `veredicto`.

# %%
por_semilla = {v: tarea_informe.results["summary"][v]["to_val_loss_0.4"]["epochs"] for v in ("none", "bn")}
sin_norma, bn = por_semilla["none"], por_semilla["bn"]
print("épocas hasta val_loss < 0.4, sin norma:", [f"{e:.2f}" for e in sin_norma], " BN:", [f"{e:.2f}" for e in bn])

# %% tags=["alumno"]
estimacion, veredicto = None, None  # tu respuesta

# %% tags=["solucion"]
estimacion = ratio_ci(bn, sin_norma)
veredicto = verdict(estimacion, "<", 0.7)

# %%
print(revisar.check_rule(estimacion, veredicto, bn, sin_norma, "<", 0.7))

# %% [markdown]
# ## Keras vs PyTorch
#
# La lección está escrita en Keras; el proyecto entrena en torch. Las dos BatchNorm hacen lo mismo, pero con
# convenciones distintas que hay que traducir (tabla de `parity/conventions.py`, la única fuente de la que se
# derivan los dos lados):

# %%
from keras_ref.training import logits as keras_logits
from parity.compare import build_pair, compare_pair, make_batches, moving_variance_step, pair_from, torch_logits
from parity.conventions import NetSpec, matched_pair, raw_defaults_pair
from parity.transfer import keras_arrays, paired_layers
from teaching import conventions_es

mostrar.show(conventions_es.table())

# %% [markdown]
# Construimos un MLP con BN en Keras (`keras_ref.build_mlp`) y su gemelo en torch (`lightning_mods.nets`),
# con los hiperparámetros traducidos por la tabla (`matched_pair`), y copiamos los pesos de torch a Keras
# (`parity.transfer`). Después pasamos el mismo batch por los dos, primero en inferencia y luego en
# entrenamiento (que además actualiza las medias móviles de los dos lados).

# %%
spec = NetSpec(norm="bn", hidden_units=clase.parity_hidden)  # el MLP en palabras de Keras
config, keras_kwargs = matched_pair(spec)                     # -> NetConfig de torch + argumentos de build_mlp
par = build_pair(config, keras_kwargs, seed=0)                # red torch con semilla, modelo Keras, pesos copiados
x, _ = make_batches(1, 32, seed=1000)[0]                      # un batch (32, 28, 28) float32

salidas = {"torch eval()": torch_logits(par.net, x, training=False),
           "Keras training=False": keras_logits(par.model, x, training=False),
           "torch train()": torch_logits(par.net, x, training=True),
           "Keras training=True": keras_logits(par.model, x, training=True)}
filas = [[f"logit {k}"] + [f"{v[0, k]:+.5f}" for v in salidas.values()] for k in range(10)]
mostrar.table(["", *salidas], filas, title="Logits de la primera imagen del batch")
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
mostrar.table(["canal", "Keras", "torch, bn_variance='biased'", "torch por defecto ('unbiased')"], filas,
              title="Varianza móvil de la primera BN (6 primeros canales) tras un paso")
for variante in ("biased", "unbiased"):
    cfg = copy.deepcopy(config)
    cfg.bn_variance = variante
    paso = moving_variance_step(cfg, keras_kwargs, 32)
    print(f"bn_variance={variante!r:<11} torch frente a Keras: diferencia relativa {paso.raw.rel:.1e}; "
          f"torch frente a la predicción m·var·(n/(n-1) - 1): {paso.residual.rel:.1e}")

# %% [markdown]
# **Veinte pasos de SGD en los dos lados.** `parity.compare.compare_pair` entrena los dos gemelos con los mismos
# batches y compara pesos, medias móviles y logits de inferencia (tolerancias: 1e-5 en los pasos hacia
# adelante, 1e-4 tras los pasos). El par traducido coincide; el par con los valores por defecto de cada
# framework (torch `momentum=0.1`, `eps=1e-5`; Keras `0.99`, `1e-3`) no:

# %%
for nombre, armar in (("traducido por la tabla", matched_pair), ("valores por defecto de cada uno", raw_defaults_pair)):
    r = compare_pair(*armar(spec))
    medias = f"{r.moving.rel:.1e}" if r.moving else "-"
    print(f"{nombre:<32} entrenamiento {r.train.rel:.1e}  inferencia {r.eval.rel:.1e}  pesos {r.weights.rel:.1e}  "
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
print(f"{len(yv)} imágenes de validación: exactitud torch {np.mean(pred_torch == yv):.4f}, exactitud Keras "
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
# y el proyecto lo rechaza antes de entrenar con un error de una línea que dice cómo arreglarlo (en inglés,
# como toda la línea de comandos del proyecto).

# %%
from lightning_mods.data import FashionMNISTDataModule

try:  # el DataModule del proyecto (lo que usa scripts/train.py --norm bn --batch-size 1)
    FashionMNISTDataModule(data=clase.source, batch_size=1, norm="bn")
except UsageError as err:
    print(f"proyecto: error: {err}")

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
    print(f"batch {batch:>3}: exactitud con eval() {m['eval_acc']:.4f}, olvidando eval() {m['train_mode_acc']:.4f}")

olvidada = copy.deepcopy(red_bn).train()  # una copia: el modelo del ejercicio no se toca
bn_capa = next(m for m in olvidada.modules() if isinstance(m, nn.BatchNorm1d))
antes = bn_capa.running_mean.clone()
with torch.no_grad():
    olvidada(as_float(imagenes[:256]))
print(f"una pasada 'de evaluación' sin eval() movió running_mean en {(bn_capa.running_mean - antes).abs().max():.3g} (máx)")

# %% [markdown]
# ### 3. Olvidar `training=True/False` en un bucle propio de Keras
#
# En Keras, `model(x)` sin `training=` es inferencia: en un bucle de entrenamiento propio, BN normalizaría con
# las medias móviles (que entonces nunca se actualizan). `fit()` pasa `training=True` por sí solo.

# %%
modelo = build_pair(config, keras_kwargs, seed=0).model
sin_flag = keras.ops.convert_to_numpy(modelo(x))
print(f"model(x) frente a model(x, training=False): máx diferencia {np.abs(sin_flag - keras_logits(modelo, x, False)).max():.1e}")
print(f"model(x) frente a model(x, training=True):  máx diferencia {np.abs(sin_flag - keras_logits(modelo, x, True)).max():.3g}")

# %% [markdown]
# ### 4. BN en una RNN
#
# En una secuencia, BN promedia sobre el batch **y** los pasos de tiempo: las estadísticas cambian con la
# longitud y con los compañeros de batch. El proyecto lo entrena, pero lo avisa una vez antes de empezar (el
# aviso, en inglés, salió arriba en el ejercicio 5). Cuánto cambian las predicciones entre los modos:

# %%
for nombre, grupo in by_variant(ex5_corridas).items():
    m = mode_change(grupo[0].model.net, imagenes[:128])
    print(f"{es(nombre):<18} predicciones que cambian entre train() y eval(): {100 * m['changed_fraction']:.1f} %")

# %% [markdown]
# ### 5. BN en la última capa, antes del softmax
#
# Suele ser innecesario y a veces dañino. Los MLP del proyecto no ponen una norma después de la última capa
# lineal, salvo con `norm_logits=True` (`--norm-logits` en `scripts/train.py`), que sirve para medir este
# error: `experiments/regularization.py` entrena BN con y sin BN sobre los logits (y, de paso, dropout con y
# sin BN, para la sección siguiente).

# %%
print(MLP(hidden=[32, 16], norm="bn", norm_logits=True).layers[-2:])
reg_informe, reg_corridas = clase.run("regularization")
mostrar.report_table(reg_informe)
clase.verdicts(reg_informe)

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
# ## Tasa de aprendizaje y regularización
#
# La lección dice que BN **permite tasas de aprendizaje más altas** y que tiene un **efecto regularizador leve**.
# Las dos cosas se midieron con 5 semillas en datos reales (`reports/lr_sweep`, `reports/regularization`);
# las frases siguientes salen de esos números y de la regla:

# %%
for fila in (3, 2):
    mostrar.show(ledger_view.sentence(registro.get(fila), fila))
resultados_lr = report_of("lr_sweep", clase.reports)  # la figura se dibuja con los números del informe
if resultados_lr:
    mostrar.figure(figures.lr_sweep(resultados_lr["measured"]),
                   "Exactitud de validación final según la tasa de aprendizaje de SGD, sin norma, con BN y con LN "
                   "(informe del proyecto): BN sigue entrenando donde sin norma diverge")

# %% [markdown]
# Dicho claro: **aquí BN no regulariza**. Con las mismas épocas, la brecha entre la exactitud de entrenamiento y
# la de validación es *mayor* con BN que sin norma (la fila 2 del registro sale contradicha): BN ajusta más
# rápido el entrenamiento y la validación no la sigue en la misma medida. Que BN "reemplace a dropout" (fila 20,
# abajo) es otra pregunta.
#
# ## Preguntas frecuentes
#
# Respondidas con lo medido (`reports/claims.json`; si una fila todavía no tiene experimento, dice
# "no medido aún"):
#
# - **¿BN reemplaza a dropout?** (fila 20)
# - **¿Por qué LN y no BN en los Transformers?** (fila 21)
# - **¿BN es mejor que LN en visión (CNN)?** (fila 22)
# - **¿Sirve `BatchNormalization(fused=True)`?** (fila 23: `fused` ya no existe en Keras 3)
# - **¿Cuánto cuesta BN?** (fila 24)

# %%
for fila in (20, 21, 22, 23, 24):
    mostrar.show(ledger_view.sentence(registro.get(fila), fila))

# %% [markdown]
# ## Resumen: las afirmaciones de la lección, medidas
#
# Todas las afirmaciones comprobadas arriba, junto al veredicto del informe del proyecto. Las 28 afirmaciones
# comprobables de la lección entera (temas, errores comunes, preguntas frecuentes, referencias), con 5 semillas,
# están en el registro del proyecto: [`reports/claims.es.md`](../reports/claims.es.md) (en español) y
# [`reports/claims.md`](../reports/claims.md) (`python scripts/experiment.py claims`).

# %%
print(clase.agreement())
columnas, filas = ledger_view.rows_table(registro, sorted(registro))
mostrar.table(columnas, filas, title="El registro del proyecto (5 semillas, datos reales)")

# %% [markdown]
# ## Referencias
#
# - S. Ioffe, C. Szegedy (2015). *Batch Normalization: Accelerating Deep Network Training by Reducing Internal
#   Covariate Shift*. ICML. [arXiv:1502.03167](https://arxiv.org/abs/1502.03167)
# - J. L. Ba, J. R. Kiros, G. E. Hinton (2016). *Layer Normalization*. [arXiv:1607.06450](https://arxiv.org/abs/1607.06450)
# - Y. Wu, K. He (2018). *Group Normalization*. ECCV. [arXiv:1803.08494](https://arxiv.org/abs/1803.08494)
# - D. Ulyanov, A. Vedaldi, V. Lempitsky (2016). *Instance Normalization*. [arXiv:1607.08022](https://arxiv.org/abs/1607.08022)
# - S. Santurkar, D. Tsipras, A. Ilyas, A. Madry (2018). *How Does Batch Normalization Help Optimization?*
#   NeurIPS. [arXiv:1805.11604](https://arxiv.org/abs/1805.11604)
# - A. Géron (2022). *Hands-On Machine Learning with Scikit-Learn, Keras, and TensorFlow*, 3.ª ed., cap. 11.
# - A. Zhang, Z. Lipton, M. Li, A. Smola. *Dive into Deep Learning*, § 8.5 Batch Normalization.
#
# ## Siguiente clase
#
# **Clase 111 — Regularización**: dropout, weight decay y early stopping (Géron, cap. 11). Aquí ya se vio que
# BN no regulariza en este MLP y cuánto aporta dropout encima de BN; la próxima clase mide esas técnicas por
# sí mismas.

# %% [markdown]
# ## Tiempo

# %%
tiempos = record(TIEMPOS, clase)
texto = "\n".join([clase.time_line(), "", "Tiempos registrados por este cuaderno (cada uno medido por su propio reloj):",
                   *recorded_lines(tiempos)])
tiempo.update(Markdown(texto))  # también en la introducción, arriba
mostrar.show(texto)
