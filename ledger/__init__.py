"""The claims ledger: every sentence of the lesson that makes a testable claim, and what this
project measured about it (``python scripts/experiment.py claims`` -> ``reports/claims.md``).

``rows``: the 28 claims, each naming the experiment claims (``reports/<name>/results.json``)
or the measured facts (``facts``) that decide it. ``build``: reads them, makes every verdict
again with the rule of ``experiments/stats.py``, and writes claims.md/claims.json.
Depends on lightning_mods (imported first: the torch side before TensorFlow), keras_ref's Keras
and the benchmark's JSON; nothing depends on it but scripts/.
"""

import lightning_mods  # noqa: F401  (the torch side first: see lightning_mods/__init__.py)
