"""The lesson's exercises and homework as reproducible experiments with reports.

Each ``exN``/``homework`` module has ``plan(settings) -> list[RunSpec]`` (the training runs,
variants x seeds) and ``analyse(fits, settings) -> Report`` (tables, plots, a paragraph
written from the measured numbers). ``runner.run_experiment`` ties them together.
"""

NAMES = ("ex1", "ex2", "ex3", "ex4", "ex5", "homework")


def run_experiment(name: str, runner, out_root):
    """Plan, train (through ``runner``), analyse and write ``out_root/<name>/``; return the Report."""
    import importlib

    from lightning_mods.exercises import report as reports

    module = importlib.import_module(f"lightning_mods.exercises.{name}")
    fits = runner.run_all(module.plan(runner.settings), name)
    result = module.analyse(fits, runner.settings)
    reports.write(result, out_root)
    return result
