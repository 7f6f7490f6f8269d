"""The lesson's teaching helpers, for the notebook (``notebooks/clase_110_normalizacion.py``):
Spanish texts and figures (``spanish``, ``display``), verdicts beside the reports' (``verdicts``,
``ledger_view``), a from-scratch batch norm and its check (``batchnorm_scratch``), activations
per layer (``activations``), the "Tu turno" checks (``exercises``), and the student's and
teacher's notebooks built from the one source (``notebooks``). It sits at the scripts' level:
it may import every package of the project, and none imports it."""
