"""The ``robustsk report`` command: every defense against every attack, on one data set.

:func:`run_report` trains the undefended baseline and each defense on a
stratified train/test split (or takes a user's fitted classifier,
``--model``), measures clean and robust accuracy over a grid of radii, runs
cheap gradient-masking checks, and writes into one folder:

``results.csv``
    One row per (defense, attack, eps): ``defense``, ``attack``, ``eps``,
    ``accuracy``, ``ci_low``, ``ci_high`` (95% Wilson interval), ``n_test``,
    ``fit_seconds``. The clean accuracy is the row ``attack="clean", eps=0``.
``per_example.csv``
    ``defense``, ``attack``, ``eps``, ``example_id``, ``correct``: the
    per-example outcomes every accuracy is the mean of, to redo the analysis.
``per_class.csv``
    ``defense``, ``attack``, ``eps``, ``class``, ``n``, ``accuracy``: the
    accuracy over each true class's test examples (robust accuracy per class).
``mcnemar_vs_baseline.csv``
    Exact McNemar test of each defense against the baseline ``standard``, per
    attack at the training eps, p-values Holm-adjusted over all the rows.
``certified.csv``
    Per model, the certified accuracy at ``eps`` by interval bound
    propagation (Linf ball within the image box) with its 95% Wilson
    interval and time: the summary table's ``certified`` column, a lower
    bound of every attack's column (:mod:`.certified`).
``accuracy_vs_eps.png``
    Robust accuracy against eps, one panel per attack, one curve per defense
    (colour, marker and line style), shaded pointwise 95% Wilson intervals.
``table.txt``
    What the command prints: the summary table, notes, masking findings, the
    McNemar table and the selection: the defense the report would pick at
    margin 0.01 (the fastest to train whose worst-case robust accuracy at the
    training eps is not significantly below the best's by more than 0.01,
    one-sided Newcombe bound), and why.
``report.json``
    Versions, seed, torch threads, data sizes, the estimators' and attacks'
    parameters, notes, the masking findings, the selection, the options and
    the run time.

:func:`main` is the command line (``robustsk report ...`` through the console
script, ``python -m robustsk report ...``). The report imports everything in
robustsk and is imported by nothing.

The protocol
------------
* Data (:mod:`.data`): ``digits`` is :func:`~robustsk.datasets.load_digits_images`
  (1,797 8x8 images) split 75/25, stratified, shuffled with ``seed``;
  ``fashion-mnist`` takes the first ``n_train`` (default 5,000) training and
  ``n_test`` (default 1,000) test images. Images are in [0, 1]: every estimator
  and attack gets ``clip_min=0, clip_max=1``. ``flatten`` gives flat features.
* Estimators: Linf threat model (``--norm 2``: L2) with radius ``eps``
  (default 0.1; 1.0 for L2; ``--train-eps`` trains at another radius than the
  attacks'), the
  library's defaults otherwise (Adam, lr 1e-3, batch 64, the default SmallCNN,
  training attacks of 10 steps of eps/4), ``max_epochs=epochs`` and
  ``random_state=seed``; :data:`DEFENSE_PARAMS` lists what the report sets
  beyond that.
* Attacks (:data:`ATTACKS`, :mod:`.attacks`): by default FGSM, PGD-20 and
  APGD-CE; also APGD-DLR, targeted APGD-DLR, R+FGSM, Square, SPSA,
  Carlini-Wagner L2 and the AutoAttack-style ensemble. An example
  misclassified without attack counts as a failure, so robust accuracy never
  exceeds clean accuracy. Radii are nested: each attacks only the survivors of
  the smaller one, so a curve never rises.
* Statistics (:mod:`.stats`): Wilson intervals, and McNemar tests that pair
  the defenses by test example.
* Gradient masking (:mod:`.masking`): the evaluation module's checks on 100
  test images per model, at the attacks' eps.
* Cost (:mod:`.cost`): before anything runs, one batch is timed and the run's
  estimated duration printed, with a warning above 10 minutes.
"""
from .attacks import ATTACKS, AttackSpec
from .cli import build_parser, main
from .data import load_report_data
from .interrupt import ReportInterrupted
from .options import (
                      DEFAULT_ATTACKS,
                      DEFAULT_EPOCHS,
                      DEFAULT_EPS_GRID,
                      DEFENSE_PARAMS,
                      DEFENSES,
                      ReportOptionError,
)
from .result import ReportResult
from .run import run_report

__all__ = ["run_report", "ReportResult", "ReportOptionError", "load_report_data", "main",
           "build_parser", "DEFENSES", "ATTACKS", "AttackSpec", "DEFAULT_ATTACKS",
           "DEFENSE_PARAMS", "DEFAULT_EPS_GRID", "DEFAULT_EPOCHS", "ReportInterrupted"]
