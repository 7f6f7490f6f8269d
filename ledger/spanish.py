"""The ledger's Spanish edition, ``<out>/claims.es.md``: the same rows and verdicts as
``claims.md``, read from ``claims.json`` (so the two never disagree), with each row's and each
part's text from ``ledger/rows_es.py``. Verdict names are translated by ``verdict_es``: a name
it does not know stays in English rather than being dropped."""

from __future__ import annotations

import json
import re
from pathlib import Path

from experiments.report import markdown_table
from experiments.stats import Estimate
from ledger.rows_es import PARTS_ES, REASONS_ES, ROWS_ES

VERDICTS_ES = {"supported": "respaldada", "contradicted": "contradicha", "inconclusive": "no concluyente",
               "negligible": "despreciable", "obsolete": "obsoleta", "not testable here": "no comprobable aquí",
               "not testable": "no comprobable aquí"}
# Words of the experiments' effect descriptions ("epochs, BN / none"), in the order they are replaced.
EFFECT_WORDS = ((r"mean over the (\d+) probes both runs reached", r"media sobre las \1 sondas que alcanzaron ambas corridas"),
                ("highest trainable rate of the sweep", "mayor tasa entrenable del barrido"),
                ("upper edge of", "borde superior de"), ("effective beta-smoothness", "beta-suavidad efectiva"),
                ("range over eta", "rango sobre eta"), ("over eta", "sobre eta"), ("gain from", "ganancia de"),
                ("at lr", "con lr"), ("timed epochs", "épocas cronometradas"), ("per epoch", "por época"),
                ("range of", "rango de"), ("over batch sizes", "entre tamaños de batch"), ("last steps", "últimos pasos"),
                ("std", "desvío"), ("BN on the logits", "BN en los logits"), ("at batch", "con batch"),
                ("final val acc", "exactitud de validación final"), ("final val loss", "pérdida de validación final"),
                ("val acc", "exactitud de validación"), ("train acc", "exactitud de entrenamiento"),
                ("val loss", "pérdida de validación"), ("accuracy", "exactitud"), ("acc", "exactitud"),
                ("epochs", "épocas"), ("seconds", "segundos"), ("steps", "pasos"), ("loss", "pérdida"),
                ("none", "sin norma"), ("minus", "menos"), ("final", "final"), ("mode", "modo"),
                ("training", "entrenamiento"), ("inference", "inferencia"), ("fraction", "fracción"),
                ("changed", "cambiadas"), ("predictions", "predicciones"), ("batch", "batch"), ("per", "por"),
                ("time", "tiempo"), ("gap", "brecha"), ("with", "con"), ("without", "sin"), ("over", "sobre"),
                ("epoch", "época"), ("the", "el"), ("max", "máx"), ("mean", "media"), ("sizes", "tamaños"))


def verdict_es(verdict: str | None) -> str:
    """``supported`` -> ``respaldada``; a verdict it does not know stays as it is (``None``: not measured)."""
    if verdict is None:
        return "sin medir"
    return VERDICTS_ES.get(verdict, verdict)


def part_es(source: str, english: str) -> str:
    """A part's claim in Spanish (``"<experiment>:<key>"``), its English text when none is written yet."""
    return PARTS_ES.get(source, english)


def effect_es(effect: str) -> str:
    """An effect's description with its common words in Spanish ("epochs, BN / none" -> "épocas, BN / sin norma")."""
    for word, spanish in EFFECT_WORDS:
        pattern = word if "(" in word else rf"\b{re.escape(word)}\b"
        effect = re.sub(pattern, spanish, effect)
    return effect


def interval(part: dict) -> str:
    """``media [IC 95 %]`` of a claims.json part or results.json claim ("sin IC" with one seed)."""
    if part.get("mean") is None:
        return "sin valor"
    nan = float("nan")
    estimate = Estimate(part["mean"], nan if part.get("low") is None else part["low"],
                        nan if part.get("high") is None else part["high"], part.get("n", 0))
    text = estimate.text(4, part.get("percent", False))
    return text if part.get("low") is not None else f"{text} (sin IC: {part.get('n', 0)} semilla)"


def part_line(part: dict) -> str:
    if part.get("not_measured") or part.get("verdict") is None:
        return f"`{part['source']}`: sin medir aún (ver el comando)"
    claimed = f"se afirma {part['side']} {part['threshold']:g}"
    fresh = part.get("fresh")  # then the verdict is the fresh sample's alone (ledger/build.py); the pilot's stays beside it
    measured = (f"{interval(fresh)} con {fresh['n']} semillas nuevas (piloto: {interval(part)}, n={part['n']}), {claimed}"
                if fresh else f"{interval(part)}, {claimed}, n={part['n']}")
    return f"{part_es(part['source'], part['claim'])}: {effect_es(part['effect'])} = {measured}: {verdict_es(part['verdict'])}"


def row_text(row: dict) -> str:
    return ROWS_ES.get(row["id"], row["claim"])


def table(ledger: dict) -> str:
    rows = []
    for row in ledger["claims"]:
        detail = REASONS_ES.get(row["id"], row.get("reason") or "") if row.get("reason") else ""
        detail = "<br>".join(filter(None, [detail] + [part_line(p) for p in row.get("parts", [])]))
        rows.append([str(row["id"]), row_text(row), row["section"], f"**{verdict_es(row['verdict'])}**", detail or "-",
                     f"`{row['command']}`"])
    return markdown_table(["id", "afirmación", "dónde lo dice la lección", "veredicto",
                           "efecto [IC 95 %], n, por parte", "reproducir"], rows)


RULE_ES = ("una parte es **respaldada** si todo su intervalo de confianza del 95 % cae del lado afirmado del umbral, "
           "**contradicha** si cae entero del otro lado y **no concluyente** si lo cruza; una fila con varias partes "
           "es respaldada si lo es cada parte, contradicha si lo es alguna, y no concluyente en otro caso (también si "
           "falta medir una parte)")


def text(ledger: dict) -> str:
    counts = ledger.get("counts", {})
    return "\n\n".join([
        "# Lo que afirma la lección, y lo que medimos",
        "Edición en español de [`claims.md`](claims.md), generada de las mismas filas y los mismos números "
        "(`python scripts/experiment.py claims`).",
        "Veredictos: " + ", ".join(f"{n} {verdict_es(v)}" for v, n in counts.items())
        + f" ({len(ledger['claims'])} afirmaciones).",
        f"Regla (en código, `experiments/stats.py` y `ledger/build.py`): {RULE_ES}. n es el número de semillas "
        "(en las filas del benchmark: épocas cronometradas). La regla exacta del código, en inglés: "
        f"{ledger.get('rule', '')}",
        table(ledger)]) + "\n"


def write_spanish(out_root: Path) -> Path:
    """``<out_root>/claims.es.md`` from ``<out_root>/claims.json``."""
    out_root = Path(out_root)
    path = out_root / "claims.es.md"
    path.write_text(text(json.loads((out_root / "claims.json").read_text())))
    return path
