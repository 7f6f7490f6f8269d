"""Several experiments at once: plan them all, train their runs together, analyse and write each."""

from __future__ import annotations

from experiments import report
from experiments.registry import EXPERIMENTS


def run_experiments(names, runner, out_root):
    """Plan every experiment, train all their runs at once (through ``runner``: each distinct run
    once, spread over its workers, the longest first), then analyse and write each
    ``out_root/<name>/``; yield ``(name, Report, fits)`` as each is written."""
    modules = {name: EXPERIMENTS[name] for name in names}
    plans = {name: module.plan(runner.settings) for name, module in modules.items()}
    runner.run_all([spec for specs in plans.values() for spec in specs], "+".join(names) if len(names) < 3 else "all")
    for name, module in modules.items():
        fits = runner.run_all(plans[name], name)  # from the cache
        result = module.analyse(fits, runner.settings)
        report.write(result, out_root)
        yield name, result, fits
