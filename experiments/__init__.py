"""The lesson's exercises, homework and the claims ledger's experiments, as reproducible experiments with reports.

Each experiment module (``ex1`` ... ``stale_stats``, listed in ``registry.EXPERIMENTS``) has
``plan(settings) -> list[RunSpec]`` (the training runs, variants x seeds) and
``analyse(fits, settings) -> Report`` (tables, plots, a paragraph written from the measured
numbers). ``suite.run_experiments`` ties them together; ``runner`` trains the runs through the
torch library (``lightning_mods``), ``executors`` spreads them over processes or a Ray cluster,
``stats`` holds the intervals and the verdict rule, ``report`` writes report.md/results.json/figures.
"""
