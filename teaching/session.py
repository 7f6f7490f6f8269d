"""One execution of the lesson's notebook: its parameters (with the quick ``RAPIDO`` preset),
the project's runner, and the steps every exercise repeats (train through the runner, show the
table and the verdicts beside the reports'), plus the run's own timer and its record."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from experiments.executors import PoolSettings, machine_cores
from experiments.run_store import RunStore
from experiments.runner import Runner, Settings
from experiments.suite import run_experiments
from lightning_mods.errors import UsageError
from teaching import display
from teaching.spanish import data_source, warning_es
from teaching.verdicts import REPORTS, SYNTHETIC_BANNER, report_of, verdict_rows

# The RAPIDO preset: the fewest seeds a CI needs, one epoch, ex4's smallest epoch, a small parity net, and the
# runs in this process (tiny runs: starting worker processes would cost more than it saves).
QUICK = {"seeds": 2, "epochs": 1, "images_per_epoch": 128, "parity_hidden": [64, 32], "workers": 1}


@dataclass
class Lesson:
    data: str  # the notebook's DATOS ("real", "sintético", "sintetico")
    seeds: int
    epochs: int | None
    images_per_epoch: int
    workers: int = 0
    parity_hidden: list[int] = field(default_factory=lambda: [512, 256, 128, 64])
    quick: bool = False
    runs: str | None = None  # a folder whose saved runs are reused and where new ones are saved (None: none)
    reports: Path = REPORTS
    claims: dict[str, list[dict]] = field(default_factory=dict)  # experiment -> its claims, for the summary

    def __post_init__(self) -> None:
        if self.quick:
            self.seeds, self.epochs, self.images_per_epoch = QUICK["seeds"], QUICK["epochs"], QUICK["images_per_epoch"]
            self.parity_hidden = list(QUICK["parity_hidden"])
            self.workers = self.workers or QUICK["workers"]  # TRABAJADORES given: kept
        self.source = data_source(self.data)
        self.pool = PoolSettings(workers=self.workers)
        self.settings = Settings(seeds=self.seeds, epochs=self.epochs, data=self.source, progress=False,
                                 images_per_epoch=self.images_per_epoch, pool=self.pool)
        store = RunStore(Path(self.runs), self.pool.n_threads) if self.runs else None  # runs/ under that folder
        self.runner = Runner(self.settings, store)  # each distinct run trains once; shared runs come from its cache
        self.folder = Path(tempfile.mkdtemp(prefix="clase110-"))  # the experiments' report files (not shown)
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    @property
    def synthetic(self) -> bool:
        return self.source == "synthetic"

    def describe(self) -> str:
        epochs = self.epochs or "las de cada ejercicio"
        return (f"datos {'sintéticos' if self.synthetic else 'reales'}{' (preset RAPIDO)' if self.quick else ''}, "
                f"{self.seeds} semillas, épocas {epochs}, {self.images_per_epoch} imágenes por época en el "
                f"ejercicio 4, {self.pool.n_workers} proceso(s) de {self.pool.n_threads} hilo(s) torch, "
                f"{machine_cores()} núcleos")

    def run(self, name: str):
        """Train (or take from the cache) an experiment's runs; its Report and fits."""
        began = time.perf_counter()
        said = io.StringIO()  # the runner shows each run's warning once, on stderr: here, in Spanish
        with contextlib.redirect_stderr(said):
            ((_, report, fits),) = run_experiments([name], self.runner, self.folder)
        for line in said.getvalue().splitlines():
            print(warning_es(line) if line.startswith("warning: ") else line, file=sys.stderr)
        print(f"{name}: {len(fits)} corridas ({self.seeds} semillas), {time.perf_counter() - began:.0f} s")
        return report, fits

    def verdicts(self, report) -> str:
        """The claims this experiment checks, beside the 5-seed report's verdicts (none made on synthetic data)."""
        claims = report.results["claims"]
        self.claims[report.name] = claims
        epochs = len(report.results["runs"][0]["epochs"]) if report.results.get("runs") else 0
        columns, rows = verdict_rows(report.name, claims, self.seeds, epochs, self.synthetic, self.reports)
        if self.synthetic:
            display.show(SYNTHETIC_BANNER)
        return display.table(columns, rows)

    def agreement(self) -> str:
        """How many of the claims measured here got the report's verdict (nothing judged on synthetic data)."""
        measured = [(name, c) for name, claims in self.claims.items() for c in claims]
        if self.synthetic:
            return f"{len(measured)} afirmaciones medidas aquí con datos sintéticos: sin veredicto (ver los informes)."
        same = 0
        for name, c in measured:
            theirs = {r.get("key"): r["verdict"] for r in report_of(name, self.reports).get("claims", [])}
            same += theirs.get(c.get("key")) == c["verdict"]
        return (f"De {len(measured)} afirmaciones medidas aquí ({self.seeds} semillas), {same} tienen el mismo veredicto "
                f"que el informe del proyecto (5 semillas); las demás llevan su explicación en la tabla de su ejercicio.")

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def time_line(self) -> str:
        cpu = time.process_time() - self.cpu_start  # this process's CPU time (its threads; not the pool's workers)
        reused = len(self.runner.cache) - self.runner.trained  # taken from CORRIDAS: not trained in this execution
        kept = f", {reused} de ellas tomadas de CORRIDAS (entrenadas por una ejecución anterior)" if reused else ""
        return (f"Esta ejecución tardó **{self.elapsed() / 60:.1f} minutos** ({self.describe()}, "
                f"{len(self.runner.cache)} corridas distintas{kept}; tiempo de CPU de este proceso {cpu / 60:.1f} minutos).")


def record(path: Path, lesson: Lesson) -> dict:
    """Add this execution's measured time to the record at ``path`` (JSON, by preset); the whole record."""
    path = Path(path)
    try:
        times = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError:
        raise UsageError(f"{path} is not the notebook's time record (JSON); delete it or give another TIEMPOS") from None
    key = f"{'rapido' if lesson.quick else 'normal'} {lesson.source}"
    reused = len(lesson.runner.cache) - lesson.runner.trained  # runs taken from CORRIDAS, not trained here
    if reused:  # not the time a fresh execution takes: kept under a key of its own
        key += f" ({reused} corridas guardadas)"
    times[key] = {"seconds": round(lesson.elapsed(), 1), "cpu_seconds": round(time.process_time() - lesson.cpu_start, 1),
                  "seeds": lesson.seeds, "epochs": lesson.epochs,
                  "images_per_epoch": lesson.images_per_epoch, "workers": lesson.pool.n_workers, "cores": machine_cores()}
    path.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
    return times


def recorded_lines(times: dict) -> list[str]:
    """One Spanish line per recorded execution."""
    names = {"rapido synthetic": "preset RAPIDO, datos sintéticos", "rapido real": "preset RAPIDO, datos reales",
             "normal real": "valores por defecto, datos reales", "normal synthetic": "valores por defecto, datos sintéticos"}

    def name(key: str) -> str:
        base, _, rest = key.partition(" (")
        return names.get(base, base) + (f" ({rest}" if rest else "")

    return [f"- {name(k)}: **{v['seconds'] / 60:.1f} min** ({v['seconds']:.0f} s, CPU de su proceso "
            f"{v.get('cpu_seconds', 0):.0f} s; {v['seeds']} semillas, "
            f"épocas {v['epochs'] or 'por defecto'}, {v['workers']} proceso(s), {v['cores']} núcleos)"
            for k, v in sorted(times.items())]
