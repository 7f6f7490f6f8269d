"""The notebook's verdicts, honestly placed: each claim measured here stands next to the verdict
of the project's report on the real data (``reports/<experiment>/results.json``, 5 seeds), with
one generated sentence when the two differ; on synthetic data no verdict about the lesson is
made here (the numbers only, and the reports' verdicts)."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.spanish import effect_es, interval, part_es, verdict_es

REPORTS = Path(__file__).resolve().parents[1] / "reports"


def report_of(name: str, reports: Path = REPORTS) -> dict:
    """``reports/<name>/results.json`` (empty when that report was not written)."""
    path = Path(reports) / name / "results.json"
    return json.loads(path.read_text()) if path.exists() else {}


def report_setup(report: dict) -> tuple[int, int]:
    """(seeds, epochs of the first run) of a report's results.json (0 when unknown)."""
    runs = report.get("runs") or [{}]
    return report.get("settings", {}).get("seeds", 0), len(runs[0].get("epochs", []))


def why_different(here: dict, there: dict, seeds: tuple[int, int], epochs: tuple[int, int]) -> str:
    """One sentence on why a verdict measured here differs from the report's."""
    causes = []
    if seeds[0] < seeds[1]:
        causes.append(f"{seeds[0]} semillas en vez de {seeds[1]}")
    if epochs[0] and epochs[1] and epochs[0] != epochs[1]:
        causes.append(f"{epochs[0]} época(s) en vez de {epochs[1]}")
    width = lambda c: (c["high"] - c["low"]) if c.get("low") is not None and c.get("high") is not None else None  # noqa: E731
    w_here, w_there = width(here), width(there)
    widths = (f"; el intervalo mide aquí {w_here:.3g} y en el informe {w_there:.3g}"
              if w_here is not None and w_there is not None else "")
    because = f"con {' y '.join(causes)}" if causes else "con otra corrida"
    return (f"Difiere del informe ({verdict_es(there['verdict'])}) {because}: la media es {interval(here)} aquí y "
            f"{interval(there)} allí{widths}.")


def verdict_rows(name: str, claims: list[dict], seeds: int, epochs: int, synthetic: bool,
                 reports: Path = REPORTS) -> tuple[list[str], list[list[str]]]:
    """The columns and rows of the notebook's verdict table for one experiment's claims."""
    report = report_of(name, reports)
    reference = {c.get("key"): c for c in report.get("claims", [])}
    r_seeds, r_epochs = report_setup(report)
    r_label = f"informe ({r_seeds} semillas, datos reales)"
    if synthetic:
        columns = ["afirmación", "efecto", "media [IC 95 %] aquí", "se afirma", r_label]
    else:
        columns = ["afirmación", "efecto", "media [IC 95 %]", "se afirma", "semillas", "veredicto aquí", r_label, "nota"]
    rows = []
    for c in claims:
        there = reference.get(c.get("key"))
        theirs = verdict_es(there["verdict"]) if there else "sin informe"
        row = [part_es(f"{name}:{c.get('key')}", c["claim"]), effect_es(c["effect"]), interval(c),
               f"{c['side']} {c['threshold']:g}"]
        if synthetic:
            rows.append(row + [theirs])
            continue
        note = ("" if there is None or there["verdict"] == c["verdict"]
                else why_different(c, there, (seeds, r_seeds), (epochs, r_epochs)))
        rows.append(row + [str(c["n"]), f"**{verdict_es(c['verdict'])}**", theirs, note or "igual que el informe"])
    return columns, rows


SYNTHETIC_BANNER = ("> **Datos sintéticos.** Estas corridas usan datos falsos de la forma de Fashion-MNIST: sirven para "
                    "probar que el cuaderno funciona, **no** para juzgar la lección. Aquí no se da ningún veredicto; la "
                    "última columna es el veredicto del informe del proyecto en datos reales.")
