""":func:`run_report`: train (or load) the models, attack them, write the report's files."""
import json
from pathlib import Path
import sys
import time

import numpy as np

from .attacks import (
    ATTACKS,
    AttackContext,
    attack_curve,
    attack_info,
    check_available,
    plan_attacks,
)
from .certified import certified_frame, certify_model
from .cost import WARN_SECONDS, estimate_cost, time_unit
from .data import describe_split, load_report_data
from .interrupt import write_interrupted
from .masking import MASKING_SETTINGS, masking_checks
from .model import check_model_input, is_differentiable, load_model, model_name
from .options import (
    BASELINE,
    CERTIFIED,
    CLEAN,
    DATASETS,
    DEFAULT_ATTACKS,
    DEFAULT_DEFENSES,
    DEFAULT_EPOCHS,
    DEFAULT_PROTECTED,
    DEFENSE_PARAMS,
    DEFENSES,
    ReportOptionError,
    check_count,
    check_eps,
    check_norm,
    default_eps,
    default_eps_grid,
    split_names,
)
from .options import eps_grid as parse_eps_grid
from .plot import plot_curves
from .result import ReportResult, jsonable, versions
from .stats import (
    mcnemar_vs_baseline,
    per_class_frame,
    per_example_frame,
    results_frame,
    select_defense,
)

__all__ = ["run_report"]


def run_report(*, dataset="digits", eps=None, eps_grid=None, defenses=None,
               attacks=None, epochs=DEFAULT_EPOCHS, device="cpu", output="robustsk_report",
               seed=0, threads=None, n_train=None, n_test=None, model=None, flatten=False,
               masking_checks=True, quiet=True, protect_classes=DEFAULT_PROTECTED,
               options=None, norm="inf", train_eps=None, estimate=True, trust_pickle=False,
               trusted=None):
    """Train each defense (or load ``model``), attack it over a grid of radii, write the report.

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}, default="digits"
    eps : float, default=None
        Radius of the attacks in the summary table, the McNemar tests and the
        masking checks, and of training unless ``train_eps`` is given. None:
        0.1 for ``norm="inf"``, 1.0 for ``norm="2"``.
    eps_grid : str or sequence of float, default=None
        Radii of the curves (a comma list or numbers); ``eps`` is added if
        absent. None: :data:`~robustsk.report.options.DEFAULT_EPS_GRID` (Linf)
        or :data:`~robustsk.report.options.DEFAULT_L2_EPS_GRID` (L2).
    defenses : str or sequence of str, default=None
        Names from :data:`~robustsk.report.DEFENSES`, or "all"; None means
        :data:`~robustsk.report.options.DEFAULT_DEFENSES`. Not with ``model``.
    attacks : str or sequence of str, default=None
        Names from :data:`~robustsk.report.ATTACKS`; None means ``fgsm, pgd, apgd``.
    epochs : int, default=DEFAULT_EPOCHS
        ``max_epochs`` of every estimator.
    device : str, default="cpu"
    output : str or path, default="robustsk_report"
        Folder of the files; created if needed, files in it overwritten.
    seed : int, default=0
        ``random_state`` of every estimator and attack, and the data split's seed.
    threads : int or None, default=None
        torch intra-op threads during the run (restored afterwards); None
        leaves torch's setting alone.
    n_train, n_test : int or None, default=None
        Subset sizes (see :func:`~robustsk.report.load_report_data`).
    model : str, path or fitted classifier, default=None
        Evaluate this classifier (a file saved with ``robustsk.io.save`` or
        ``skops.io.dump``) on the test split instead of training defenses; ``eps`` is then
        only the attacks' radius. Gradient attacks it cannot be differentiated
        for are replaced by ``square`` and ``spsa``.
    flatten : bool, default=False
        Feed flat features (64 for digits) instead of images, for tabular models.
    masking_checks : bool, default=True
        Run the cheap gradient-masking checks on each model at ``eps``.
    quiet : bool, default=True
        False shows tqdm progress bars on stderr.
    protect_classes : str or sequence of int, default=(8, 9)
        Labels the ``cost-sensitive`` defense protects (a comma list or labels).
    options : dict, default=None
        Recorded in ``report.json`` as the command-line options.
    norm : {"inf", "2"}, default="inf"
        The ball of training and of every attack (``--norm``).
    train_eps : float, default=None
        Training radius of the defenses (``--train-eps``); None: ``eps``.
    estimate : bool, default=True
        Time one batch and print the run's estimated cost before it starts
        (on stdout; a warning on stderr when above
        :data:`~robustsk.report.cost.WARN_SECONDS`).
    trust_pickle : bool, default=False
        Also unpickle a pickle or joblib ``model`` file (``--trust-pickle``):
        that runs code from the file, so only for files you trust.
    trusted : list of str, default=None
        Further types or modules a ``model`` file may hold (``--trust``), as in
        :func:`robustsk.io.load`.

    Returns
    -------
    result : ReportResult

    Raises
    ------
    ReportOptionError
        An unknown name, a negative eps, a bad count, or a model that cannot
        be used on the data set.
    FileNotFoundError
        Fashion-MNIST was requested but its files are absent.
    ReportInterrupted
        Ctrl-C stopped the run; ``results.csv``, ``per_example.csv`` and
        ``report.json`` hold the rows done so far (a ``KeyboardInterrupt``).

    Examples
    --------
    >>> result = run_report(defenses="standard,fast", attacks="fgsm", epochs=1,
    ...                     eps_grid="0,0.1", n_train=200, n_test=50,
    ...                     output="/tmp/robustsk_report_doctest")  # doctest: +SKIP
    >>> list(result.table.columns)  # doctest: +SKIP
    ['fit_seconds', 'clean', 'FGSM', 'certified']
    """
    import torch

    start = time.perf_counter()
    if dataset not in DATASETS:
        raise ReportOptionError(f"unknown dataset {dataset!r}: expected one of "
                                f"{', '.join(DATASETS)}.")
    norm = check_norm(norm)
    eps = check_eps(default_eps(norm) if eps is None else eps, "eps")
    train_eps = eps if train_eps is None else check_eps(train_eps, "train_eps")
    grid = parse_eps_grid(default_eps_grid(norm) if eps_grid is None else eps_grid, eps)
    if model is not None and defenses is not None:
        raise ReportOptionError("--model evaluates your own classifier and --defenses trains "
                                "the library's: give one of them.")
    defense_names = [] if model is not None else split_names(
        list(DEFAULT_DEFENSES) if defenses is None else defenses, DEFENSES, "defenses")
    attack_names = split_names(list(DEFAULT_ATTACKS) if attacks is None else attacks, ATTACKS,
                               "attacks")
    epochs = check_count(epochs, "epochs", 1)
    seed = check_count(seed, "seed", 0)
    threads = check_count(threads, "threads", 1)
    n_train = check_count(n_train, "n_train", 2)
    n_test = check_count(n_test, "n_test", 1)
    check_available(attack_names)
    fitted = None
    if model is not None:
        fitted = load_model(model, trust_pickle=trust_pickle, trusted=trusted) \
            if isinstance(model, (str, Path)) else model
    X_train, y_train, X_test, y_test = load_report_data(dataset, n_train=n_train,
                                                        n_test=n_test, seed=seed,
                                                        flatten=flatten)
    if fitted is not None:
        check_model_input(fitted, X_test, y_test, dataset, flatten)
    protected = _protected(protect_classes, y_train) if "cost-sensitive" in defense_names \
        else None
    output_dir = Path(output)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, a read-only place, ...
        raise ReportOptionError(
            f"--output {output}: cannot create or use this folder ({exc.strerror or exc}); "
            "expected a folder that exists or can be created. Give another --output.") from None

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    done = {}
    try:
        if estimate:
            _print_estimate(fitted, defense_names, attack_names, X_train, y_train, X_test,
                            epochs=epochs, grid=grid, device=device, masking=masking_checks)
        if fitted is None:
            _warm_up(X_train, y_train, device)
        run = _evaluate_all(fitted, defense_names, attack_names, X_train, y_train, X_test,
                            y_test, eps=eps, grid=grid, epochs=epochs, seed=seed, device=device,
                            masking=masking_checks, quiet=quiet, protected=protected,
                            norm=norm, train_eps=train_eps, done=done)
    except KeyboardInterrupt:  # Ctrl-C: keep the rows done so far (exit status 130 in main)
        raise write_interrupted(done, output_dir, options) from None
    finally:
        torch.set_num_threads(previous_threads)

    results = results_frame(run["cells"], run["fit_seconds"])
    labels = [ATTACKS[name].label for name in run["attacks"]]
    certified = certified_frame(run["certified"])
    table = _summary(results, run["models"], labels, eps, certified)
    per_example = per_example_frame(run["cells"])
    per_class = per_class_frame(run["cells"], y_test)
    mcnemar = mcnemar_vs_baseline(run["cells"], eps, BASELINE)
    selection = select_defense(run["cells"], eps, run["fit_seconds"])
    paths = {name: output_dir / file for name, file in (
        ("csv_path", "results.csv"), ("plot_path", "accuracy_vs_eps.png"),
        ("table_path", "table.txt"), ("info_path", "report.json"),
        ("per_example_path", "per_example.csv"), ("mcnemar_path", "mcnemar_vs_baseline.csv"),
        ("per_class_path", "per_class.csv"), ("certified_path", "certified.csv"))}
    results.to_csv(paths["csv_path"], index=False)
    per_example.to_csv(paths["per_example_path"], index=False)
    per_class.to_csv(paths["per_class_path"], index=False)
    mcnemar.to_csv(paths["mcnemar_path"], index=False)
    certified.to_csv(paths["certified_path"], index=False)
    what = f"{run['models'][0]} (--model)" if fitted is not None else \
        f"trained at eps {train_eps:g}, {epochs} epochs"
    plot_curves(results, labels, paths["plot_path"], eps,
                f"{dataset}: {len(y_test)} test images ({what}; dotted: eps {eps:g}"
                + (", dashed: training eps)" if fitted is None and train_eps != eps else ")"),
                norm=norm, train_eps=None if fitted is not None else train_eps)
    info = {
        "versions": versions(), "seed": seed, "torch_threads": used_threads, "device": device,
        "dataset": {"name": dataset, "n_train": 0 if fitted is not None else int(len(y_train)),
                    "n_test": int(len(y_test)), "input_shape": list(X_test.shape[1:]),
                    "flatten": bool(flatten), "split": describe_split(dataset)},
        "eps": eps, "eps_grid": grid, "norm": norm,
        "train_eps": None if fitted is not None else train_eps,
        "model": None if fitted is None else {"path": str(model) if isinstance(
            model, (str, Path)) else None, "class": type(fitted).__name__,
            "differentiable": run["differentiable"][run["models"][0]]},
        "defenses": run["params"],
        "attacks": {ATTACKS[name].label: attack_info(name, run["ctx"])
                    for name in run["attacks"]},
        "notes": run["notes"],
        "masking_checks": {"settings": MASKING_SETTINGS, "models": run["masking"]}
        if masking_checks else None,
        "mcnemar_vs_baseline": {"baseline": BASELINE, "test": "exact McNemar",
                                "adjustment": "Holm over all rows", "alpha": 0.05},
        "selection": None if selection is None else {
            k: v for k, v in selection.items() if k != "table"},
        "options": jsonable(options if options is not None else {
            "dataset": dataset, "eps": eps, "eps_grid": grid, "norm": norm,
            "train_eps": train_eps, "defenses": defense_names,
            "attacks": attack_names, "epochs": epochs, "device": device,
            "output": str(output), "seed": seed, "threads": threads, "n_train": n_train,
            "n_test": n_test, "model": None if model is None else str(model),
            "flatten": flatten, "masking_checks": masking_checks,
            "protect_classes": None if protected is None else protected}),
    }
    info["total_seconds"] = round(time.perf_counter() - start, 2)
    result = ReportResult(results=results, table=table, eps=eps, per_example=per_example,
                          per_class=per_class, certified=certified,
                          mcnemar=mcnemar, masking=run["masking"], notes=tuple(run["notes"]),
                          output_dir=output_dir, **paths,
                          total_seconds=time.perf_counter() - start, info=info, selection=selection)
    paths["table_path"].write_text(result.summary_text() + "\n")
    paths["info_path"].write_text(json.dumps(jsonable(info), indent=2) + "\n")
    return result


def _protected(value, y_train):
    """The labels ``cost-sensitive`` protects, checked against the training labels."""
    items = value.split(",") if isinstance(value, str) else list(value)
    labels = np.unique(y_train)
    out = []
    for item in items:
        try:
            label = type(labels[0].item())(str(item).strip())
        except (TypeError, ValueError):
            label = item
        if label not in set(labels.tolist()):
            raise ReportOptionError(
                f"--protect-classes has {item!r}, which is not a label of the data: expected "
                f"labels from {labels.tolist()}. Pass e.g. --protect-classes 8,9.")
        out.append(label)
    if not out:
        raise ReportOptionError("--protect-classes is empty: give labels such as 8,9.")
    return out


def _warm_up(X_train, y_train, device):
    """One throwaway fit of a few batches, so the first timed fit does not pay the
    one-off costs of the process (lazy imports, the optimizer's first step: about 3 s
    on 2 cores), which made ``fit_seconds`` and the choice of the fastest defense
    depend on the order of ``--defenses``."""
    import warnings

    from ..defenses import StandardTraining
    labels = np.unique(y_train)
    rows = np.concatenate([np.flatnonzero(y_train == label)[:16] for label in labels[:4]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        StandardTraining(max_epochs=1, batch_size=16, device=device, random_state=0).fit(
            X_train[rows], y_train[rows])


def _print_estimate(fitted, defense_names, attack_names, X_train, y_train, X_test, *, epochs,
                    grid, device, masking):
    """Time one batch, print the estimated cost, warn on stderr when it is long."""
    n_classes = len(getattr(fitted, "classes_", np.unique(y_train)))
    unit = time_unit(X_test if fitted is not None else X_train, n_classes, device=device)
    cost = estimate_cost(unit, defenses=defense_names, attacks=attack_names,
                         n_train=0 if fitted is not None else len(X_train), n_test=len(X_test),
                         epochs=epochs, n_radii=sum(r > 0 for r in grid),
                         n_classes=n_classes, masking=masking)
    print(cost.text(), flush=True)
    if cost.total > WARN_SECONDS:
        print(f"warning: this run may take about {cost.total / 60:.0f} minutes. For a quicker "
              "one lower --epochs, --n-train or --n-test, or give fewer --defenses, --attacks "
              "or --eps-grid radii (Ctrl-C stops it).", file=sys.stderr, flush=True)
    return cost


def _evaluate_all(fitted, defense_names, attack_names, X_train, y_train, X_test, y_test, *,
                  eps, grid, epochs, seed, device, masking, quiet, protected=None, norm="inf",
                  train_eps=None, done=None):
    """Fit or take each model, attack it, and collect per-example correctness.

    ``done`` (a dict) receives the lists being filled, so that an interrupted
    run can still write what it finished.
    """
    from tqdm import tqdm
    cells, fit_seconds, params, checks, notes, differentiable = [], {}, {}, {}, [], {}
    done = {} if done is None else done
    done.update(cells=cells, fit_seconds=fit_seconds)
    certified = {}
    n_classes = len(getattr(fitted, "classes_", np.unique(y_train if fitted is None
                                                           else y_test)))
    ctx = AttackContext(seed=seed, n_classes=n_classes, input_shape=tuple(X_test.shape[1:]),
                        norm=norm)
    names = defense_names or [model_name(fitted)]
    overall = tqdm(names, desc="report", unit="model", disable=quiet, file=sys.stderr,
                   position=0)
    planned = attack_names
    for name in overall:
        overall.set_postfix_str(name)
        done["current"] = name
        if fitted is None:
            with tqdm(total=epochs, desc=f"  fit {name}", unit="epoch", leave=False,
                      disable=quiet, file=sys.stderr, position=1) as bar:
                clf, params[name] = _make_defense(
                    name, eps=eps if train_eps is None else train_eps, epochs=epochs, seed=seed,
                    device=device, bar=bar, protected=protected, norm=norm)
                tic = time.perf_counter()
                clf.fit(X_train, y_train)
                fit_seconds[name] = time.perf_counter() - tic
        else:
            clf, fit_seconds[name] = fitted, float("nan")
        differentiable[name] = fitted is None or is_differentiable(clf)
        planned, plan_notes = plan_attacks(attack_names, n_classes=n_classes,
                                           differentiable=differentiable[name],
                                           model_name=name, norm=norm)
        notes += [note for note in plan_notes if note not in notes]
        correct = np.asarray(clf.predict(X_test)) == y_test
        cells.append((name, CLEAN, 0.0, correct))
        certified[name], note = certify_model(name, clf, X_test, y_test, eps, norm,
                                                ctx.clip_min, ctx.clip_max)
        if note is not None:
            notes.append(note)
        with tqdm(total=len(planned) * len(grid), desc=f"  attack {name}", unit="run",
                  leave=False, disable=quiet, file=sys.stderr, position=1) as bar:
            for attack in planned:
                curve = attack_curve(attack, clf, X_test, y_test, correct, grid, ctx, bar)
                cells += [(name, ATTACKS[attack].label, r, c) for r, c in curve.items()]
        if masking:
            checks[name] = masking_checks(clf, X_test, y_test, eps, ctx,
                                          differentiable=differentiable[name])
    overall.close()
    return {"cells": cells, "fit_seconds": fit_seconds, "params": params, "masking": checks,
            "notes": notes, "attacks": planned, "models": names, "ctx": ctx,
            "differentiable": differentiable, "certified": certified}


def _make_defense(name, *, eps, epochs, seed, device, bar, protected=None, norm="inf"):
    from .. import criteria, defenses
    cls = getattr(defenses, DEFENSES[name])
    params = dict(eps=eps, norm=norm, clip_min=0.0, clip_max=1.0, max_epochs=epochs,
                  random_state=seed, device=device, **DEFENSE_PARAMS.get(name, {}))
    if name == "cost-sensitive":
        params["protected_classes"] = protected
    kwargs = {k: getattr(criteria, v) if k == "criterion" else v for k, v in params.items()}
    clf = cls(callbacks=[("progress", _epoch_callback(bar))], **kwargs)
    return clf, {"class": cls.__name__, **{k: jsonable(v) for k, v in params.items()}}


def _epoch_callback(bar):
    """A skorch callback that advances a tqdm bar at the end of every epoch."""
    from skorch.callbacks import Callback

    class EpochProgress(Callback):
        def on_epoch_end(self, net, **kwargs):
            bar.set_postfix(loss=f"{net.history[-1, 'train_loss']:.3f}", refresh=False)
            bar.update(1)

    return EpochProgress()


def _summary(results, models, labels, eps, certified):
    import pandas as pd
    table = pd.DataFrame(index=pd.Index(models, name="defense"))
    table["fit_seconds"] = results.groupby("defense", sort=False)["fit_seconds"].first()
    table[CLEAN] = results[results["attack"] == CLEAN].set_index("defense")["accuracy"]
    for label in labels:
        at = results[(results["attack"] == label) & np.isclose(results["eps"], eps)]
        table[label] = at.set_index("defense")["accuracy"]
    table[CERTIFIED] = certified.set_index("defense")["certified_accuracy"].astype(float)
    return table
