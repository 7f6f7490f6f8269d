"""What a student reads, in Spanish: the experiments' table headers, cells, set-up lines and
figure texts (titles, axes, legends) translated phrase by phrase, and the notebook's data
parameter read with or without its accent."""

from __future__ import annotations

import re

from lightning_mods.errors import UsageError

# Phrases first (longest, most specific), then words. Matched on word boundaries, case-sensitively.
PHRASES = (
    ("validation accuracy (inference mode)", "exactitud de validación (modo inferencia)"),
    ("final validation accuracy (diverged: chance)", "exactitud de validación final (divergió: azar)"),
    ("predictions changed, train vs eval mode", "predicciones que cambian, modo train vs eval"),
    ("predictions changed", "predicciones que cambian"),
    ("differing predictions", "predicciones distintas"), ("of which not float ties", "de ellas, no empates de float"),
    ("mean |logit change|", "media de |cambio de logit|"), ("max |logit change|", "máx |cambio de logit|"),
    ("max |logit diff|", "máx |diferencia de logit|"),
    ("one batch of", "un batch de"), ("loss std (last steps)", "desvío de la pérdida (últimos pasos)"),
    ("validation loss", "pérdida de validación"), ("validation accuracy", "exactitud de validación"),
    ("epochs to val acc >= 0.85", "épocas hasta exactitud de validación >= 0.85"),
    ("epochs to val loss < 0.4", "épocas hasta pérdida de validación < 0.4"),
    ("optimizer steps to", "pasos del optimizador hasta"), ("optimizer step", "paso del optimizador"),
    ("seconds to", "segundos hasta"), ("s / epoch", "s / época"),
    ("final val loss", "pérdida de validación final"), ("final val acc", "exactitud de validación final"),
    ("lowest val loss", "menor pérdida de validación"), ("best val acc", "mejor exactitud de validación"),
    ("val acc, inference mode", "exactitud de validación, modo inferencia"),
    ("val acc, training mode", "exactitud de validación, modo entrenamiento"),
    ("batched acc", "exactitud en batches"), ("batch-1 acc", "exactitud de a 1"),
    ("train acc (inference mode)", "exactitud de entrenamiento (modo inferencia)"),
    ("train - val acc", "exactitud de entrenamiento - de validación"),
    ("val loss - train loss", "pérdida de validación - de entrenamiento"),
    ("bn + BN on logits", "bn + BN en los logits"), ("bn + dropout", "bn + dropout"), ("variant", "variante"),
    ("val acc", "exactitud de validación"), ("val loss", "pérdida de validación"),
    ("train acc", "exactitud de entrenamiento"), ("train loss", "pérdida de entrenamiento"),
    ("Val accuracy vs batch size", "Exactitud de validación según el tamaño de batch"),
    ("Val accuracy vs learning rate", "Exactitud de validación según la tasa de aprendizaje"),
    ("same images per run", "mismas imágenes por corrida"),
    ("mean, band: 95% CI over", "media; banda: IC 95 % sobre"),
    ("SGD learning rate", "tasa de aprendizaje de SGD"), ("batch size", "tamaño de batch"),
    ("LSTM, plain", "LSTM sola"), ("ln before", "ln antes"), ("bn before", "bn antes"),
    ("training mode", "modo entrenamiento"), ("inference mode", "modo inferencia"),
    ("seeds", "semillas"), ("seed", "semilla"), ("epochs", "épocas"), ("epoch", "época"),
    ("activation", "activación"), ("before", "antes"), ("after", "después"), ("model", "modelo"),
    ("optimizer steps", "pasos del optimizador"), ("net", "red"),
    ("norm", "norma"), ("none", "sin norma"), ("steps", "pasos"), ("gap", "brecha"), ("no", "no"), ("yes", "sí"),
    ("Exercise", "Ejercicio"), ("Homework", "Tarea"), ("with", "con"), ("without", "sin"), ("and", "y"),
    ("trained", "entrenadas"), ("runs", "corridas"), ("run", "corrida"), ("per", "por"), ("mean", "media"),
    ("real data", "datos reales"), ("synthetic data", "datos sintéticos"),
)
_PATTERNS = [(re.compile(rf"(?<![\w|]){re.escape(en)}(?![\w])"), es) for en, es in PHRASES]


def es(text: str) -> str:
    """``text`` with every phrase of ``PHRASES`` in Spanish (each replaced once, longest first).

    >>> es("final val acc")
    'exactitud de validación final'
    """
    out, taken = [], 0
    spans = []
    for pattern, spanish in _PATTERNS:
        for match in pattern.finditer(text):
            if all(match.end() <= a or match.start() >= b for a, b, _ in spans):
                spans.append((match.start(), match.end(), spanish))
    for start, end, spanish in sorted(spans):
        out += [text[taken:start], spanish]
        taken = end
    return "".join(out) + text[taken:]


def figure_es(fig):
    """The matplotlib figure ``fig`` with its titles, axis labels and legend texts in Spanish (in place)."""
    if fig._suptitle is not None:
        fig._suptitle.set_text(es(fig._suptitle.get_text()))
    for ax in fig.axes:
        ax.set_title(es(ax.get_title()))
        ax.set_xlabel(es(ax.get_xlabel()))
        ax.set_ylabel(es(ax.get_ylabel()))
        legend = ax.get_legend()
        if legend is not None:
            for entry in legend.get_texts():
                entry.set_text(es(entry.get_text()))
            if legend.get_title().get_text():
                legend.get_title().set_text(es(legend.get_title().get_text()))
    return fig


# The project's warnings (English, like its command line), as the notebook shows them.
WARNINGS = {
    "warning: --arch lstm with --norm bn": "aviso: LSTM con BatchNorm: las estadísticas de BN se toman sobre el batch Y "
                                           "los 28 pasos de tiempo, así que cambian con la longitud de la secuencia y "
                                           "con el batch (el error de la lección \"BN en una RNN\"); el entrenamiento "
                                           "sigue, pero en redes recurrentes lo usual es LayerNorm",
    "warning: --batch-size": "aviso: ese tamaño de batch deja un último batch de entrenamiento de 1 muestra, con el que "
                             "BN no puede entrenar; esa muestra se descarta en cada época",
}


def warning_es(line: str) -> str:
    """A project warning line in Spanish (one it does not know: marked as the project's, in English)."""
    for start, spanish in WARNINGS.items():
        if line.startswith(start):
            return spanish
    return f"aviso del proyecto (en inglés): {line}"


SOURCES = {"real": "real", "sintetico": "synthetic", "sintético": "synthetic"}


def data_source(datos: str) -> str:
    """The project's data name for the notebook's ``DATOS`` (``"sintético"`` or ``"sintetico"``, ``"real"``)."""
    key = str(datos).strip().lower()
    if key not in SOURCES:
        raise UsageError(f'DATOS = {datos!r} no es válido; usa "real" o "sintético"')
    return SOURCES[key]
