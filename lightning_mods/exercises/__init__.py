"""The lesson's exercises and homework as reproducible experiments with reports.

Each ``exN``/``homework`` module, and each experiment the claims ledger needs (``landscape``,
``lr_sweep``, ``regularization``, ``batch_one``, ``stale_stats``), has ``plan(settings) -> list[RunSpec]`` (the training runs,
variants x seeds) and ``analyse(fits, settings) -> Report`` (tables, plots, a paragraph
written from the measured numbers). ``runner.run_experiment`` ties them together.
"""

NAMES = ("ex1", "ex2", "ex3", "ex4", "ex5", "homework", "landscape", "lr_sweep", "regularization", "batch_one",
         "stale_stats")


def run_experiments(names, runner, out_root):
    """Plan every experiment, train all their runs at once (through ``runner``: each distinct run
    once, spread over its workers, the longest first), then analyse and write each
    ``out_root/<name>/``; yield ``(name, Report, fits)`` as each is written."""
    import importlib

    from lightning_mods.exercises import report as reports

    modules = {name: importlib.import_module(f"lightning_mods.exercises.{name}") for name in names}
    plans = {name: module.plan(runner.settings) for name, module in modules.items()}
    runner.run_all([spec for specs in plans.values() for spec in specs], "+".join(names) if len(names) < 3 else "all")
    for name, module in modules.items():
        fits = runner.run_all(plans[name], name)  # from the cache
        result = module.analyse(fits, runner.settings)
        reports.write(result, out_root)
        yield name, result, fits
