"""The ``robustsk report`` command: every defense against every attack, on one data set.

:func:`run_report` trains the undefended baseline and each defense on a
stratified train/test split, measures clean accuracy and robust accuracy under
FGSM, PGD-20 and APGD-CE over a grid of radii, and writes into one folder:

``results.csv``
    Tidy long form, one row per (defense, attack, eps): columns ``defense``,
    ``attack``, ``eps``, ``accuracy``, ``n_test``, ``fit_seconds``. The clean
    accuracy is the row ``attack="clean", eps=0``.
``accuracy_vs_eps.png``
    Robust accuracy against eps, one panel per attack, one line per defense.
``table.txt``
    The summary table printed on the console.
``report.json``
    Versions (python, torch, skorch, scikit-learn, numpy, pandas, robustsk),
    seed, torch thread count, data sizes, the estimators' and attacks'
    parameters, the options, and the run time.

:func:`main` is the command line (``robustsk report ...`` through the console
script, ``python -m robustsk report ...``). The report imports everything in
robustsk and is imported by nothing.

The protocol
------------
* Data: ``digits`` is :func:`~robustsk.datasets.load_digits_images` (1,797
  8x8 images) split 75/25, stratified, shuffled with ``seed``;
  ``fashion-mnist`` takes the first ``n_train`` (default 5,000) training and
  ``n_test`` (default 1,000) test images of
  :func:`~robustsk.datasets.load_fashion_mnist`. Images are in [0, 1]: every
  estimator and attack gets ``clip_min=0, clip_max=1``.
* Estimators: Linf threat model with radius ``eps`` (default 0.1), the
  library's defaults otherwise (Adam, lr 1e-3, batch 64, the default SmallCNN,
  training attacks of 10 steps of eps/4), ``max_epochs=epochs`` and
  ``random_state=seed``; :data:`DEFENSE_PARAMS` lists what the report sets
  beyond that.
* Attacks (:data:`ATTACKS`): FGSM (one step of size eps); PGD-20 (step
  eps/4, uniform random start, one restart); APGD-CE (100 iterations, one
  restart). PGD and APGD are seeded with ``seed``. An example misclassified
  without attack counts as a failure, so robust accuracy never exceeds clean
  accuracy.
* Nested balls: the radii are attacked in ascending order, each only on the
  examples that survived the smaller ones (an adversarial example of a smaller
  ball lies in every larger one). The accuracy at eps is thus that of the
  worst case over the grid's radii up to eps: never higher than a single run
  at eps, a curve that never rises, and much less work at the large radii.
* Radii (:data:`DEFAULT_EPS_GRID`): 0, 0.05, 0.1, 0.15, 0.2, 0.3 in the [0, 1]
  pixel scale; the training ``eps`` is added to the grid when missing, because
  the summary table reports each attack at the training eps.
"""
import argparse
from dataclasses import dataclass
import json
from pathlib import Path
import platform
import sys
import time
from typing import Any

import numpy as np

__all__ = ["run_report", "ReportResult", "ReportOptionError", "load_report_data", "main",
           "build_parser", "DEFENSES", "ATTACKS", "DEFENSE_PARAMS", "DEFAULT_EPS_GRID",
           "DEFAULT_EPOCHS"]

#: Defense names of ``--defenses``, in report order, and their estimator classes.
DEFENSES = {
    "standard": "StandardTraining",
    "madry": "AdversarialTraining",
    "trades": "TRADES",
    "fat": "FriendlyAdversarialTraining",
    "fast": "FastAdversarialTraining",
}

#: Parameters the report sets on a defense beyond the shared ones. FAT gets
#: ``tau=2``: the last value of the FAT paper's schedule (0, then 1, then 2) and,
#: on digits at eps 0.1 with 20 and 10 epochs, the most robust of tau = 0..3
#: under PGD-20 (0.86 against 0.84-0.85; the paper's schedule gave 0.84).
DEFENSE_PARAMS = {"fat": {"tau": 2}}

#: Attack names of ``--attacks``, their labels in the table, and their parameters.
ATTACKS = {
    "fgsm": ("FGSM", {}),
    "pgd": ("PGD-20", {"n_iter": 20}),
    "apgd": ("APGD-CE", {"n_iter": 100, "loss": "ce"}),
}

#: Radii of the accuracy-against-eps curves, for images in [0, 1].
DEFAULT_EPS_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)

#: ``max_epochs`` of the default run. On digits at eps 0.1 every defense then
#: ends 21-23 points of PGD-20 accuracy above the baseline (15 epochs: 25; 20:
#: 30), and the whole default run takes about 85 s of CPU, so it stays within 3
#: minutes on 2 cores even when other work shares them.
DEFAULT_EPOCHS = 12

#: Default sizes of the Fashion-MNIST subsets.
FASHION_MNIST_SIZES = (5000, 1000)

#: How many ``--threads`` the command line uses by default: the networks are
#: tiny (8x8 digits, batch 64), so a second intra-op thread gains little, and on
#: a shared machine two threads that wait on each other ran 5-8x slower.
DEFAULT_THREADS = 1

DATASETS = ("digits", "fashion-mnist")

CLEAN = "clean"


class ReportOptionError(ValueError):
    """An option of the report is invalid (unknown name, negative eps, ...)."""


@dataclass(frozen=True)
class ReportResult:
    """What :func:`run_report` measured and wrote.

    Attributes
    ----------
    results : pandas.DataFrame
        Tidy long form, one row per (defense, attack, eps): columns
        ``defense``, ``attack``, ``eps``, ``accuracy``, ``n_test``,
        ``fit_seconds``. Clean accuracy is ``attack="clean", eps=0``.
    table : pandas.DataFrame
        One row per defense (the index): ``fit_seconds``, ``clean`` and one
        column per attack (its label, e.g. ``"PGD-20"``) at the training eps.
    eps : float
        The training eps, at which ``table`` reports the attacks.
    output_dir, csv_path, plot_path, table_path, info_path : pathlib.Path
        The folder and the files written into it.
    total_seconds : float
        Wall time of the whole run.
    info : dict
        The content of ``info_path`` (versions, seed, threads, options, ...).
    """

    results: Any
    table: Any
    eps: float
    output_dir: Path
    csv_path: Path
    plot_path: Path
    table_path: Path
    info_path: Path
    total_seconds: float
    info: dict

    def format_table(self):
        """The summary table as text, accuracies with 3 decimals, fit time in seconds."""
        table = self.table.copy()
        table["fit_seconds"] = table["fit_seconds"].map(lambda s: f"{s:.1f}")
        for column in table.columns[1:]:
            table[column] = table[column].map(lambda a: f"{a:.3f}")
        table = table.rename(columns={"fit_seconds": "fit [s]"})
        table.index.name = None
        return f"accuracy on {int(self.results['n_test'].iloc[0])} test images, attacks at " \
               f"eps={self.eps:g}\n" + table.to_string()


# ------------------------------------------------------------------ options
def _split_names(value, choices, what):
    names = [name.strip().lower() for name in value.split(",")] if isinstance(value, str) \
        else [str(name).lower() for name in value]
    names = [name for name in names if name]
    if not names:
        raise ReportOptionError(f"--{what} is empty: give a comma-separated list of "
                                f"{', '.join(choices)}.")
    for name in names:
        if name not in choices:
            import difflib
            close = difflib.get_close_matches(name, list(choices), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ReportOptionError(f"unknown {what[:-1]} {name!r} in --{what}: expected "
                                    f"names from {', '.join(choices)}.{hint}")
    return list(dict.fromkeys(names))  # drop repeats, keep order


def _check_eps(value, what):
    try:
        eps = float(value)
    except (TypeError, ValueError):
        raise ReportOptionError(f"{what}={value!r} is not a number: expected a radius >= 0, "
                                "e.g. 0.1.") from None
    if not np.isfinite(eps) or eps < 0:
        raise ReportOptionError(f"{what}={value!r}: expected a finite radius >= 0 in the "
                                "[0, 1] pixel scale, e.g. 0.1.")
    return eps


def _eps_grid(value, eps=None):
    """Sorted unique radii of a comma list or sequence, with ``eps`` added (unless None)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [item for item in items if not (isinstance(item, str) and not item.strip())]
    if not items:
        raise ReportOptionError("--eps-grid is empty: give radii such as 0,0.05,0.1.")
    grid = {_check_eps(item.strip() if isinstance(item, str) else item, "eps-grid value")
            for item in items}
    return sorted(grid if eps is None else grid | {eps})


def _check_count(value, what, minimum):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ReportOptionError(f"{what}={value!r}: expected an integer >= {minimum}.")
    return int(value)


# --------------------------------------------------------------------- data
def _subsample(X, y, n, seed):
    if n is None or n >= len(y):
        return X, y
    from sklearn.model_selection import train_test_split
    if n < len(np.unique(y)):
        return X[:n], y[:n]
    keep, _, y_keep, _ = train_test_split(np.arange(len(y)), y, train_size=n, stratify=y,
                                          random_state=seed)
    return X[keep], y_keep


def load_report_data(dataset="digits", *, n_train=None, n_test=None, seed=0,
                     test_size=0.25):
    """The train and test images of the report.

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}, default="digits"
    n_train, n_test : int or None, default=None
        Subset sizes (stratified for digits). None: all of digits' split, or
        5,000 and 1,000 images of Fashion-MNIST.
    seed : int, default=0
        Shuffles the digits split and the subsets.
    test_size : float, default=0.25
        Held-out fraction of digits.

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarrays, images of shape (n, 1, H, W) in [0, 1]

    Raises
    ------
    FileNotFoundError
        Fashion-MNIST's files are absent (the message says how to get them).

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_report_data("digits")
    >>> X_train.shape, X_test.shape
    ((1347, 1, 8, 8), (450, 1, 8, 8))
    """
    from .datasets import load_digits_images, load_fashion_mnist
    if dataset == "digits":
        from sklearn.model_selection import train_test_split
        X, y = load_digits_images(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=seed)
        X_train, y_train = _subsample(X_train, y_train, n_train, seed)
        X_test, y_test = _subsample(X_test, y_test, n_test, seed)
        return X_train, y_train, X_test, y_test
    if dataset == "fashion-mnist":
        n_train = FASHION_MNIST_SIZES[0] if n_train is None else n_train
        n_test = FASHION_MNIST_SIZES[1] if n_test is None else n_test
        X_train, y_train = load_fashion_mnist(subset="train", n_samples=n_train,
                                              return_X_y=True)
        X_test, y_test = load_fashion_mnist(subset="test", n_samples=n_test, return_X_y=True)
        return X_train, y_train, X_test, y_test
    raise ReportOptionError(f"unknown dataset {dataset!r}: expected one of {', '.join(DATASETS)}.")


# ----------------------------------------------------------------- pieces
def _make_attack(name, eps, seed):
    """The attack object of ``name`` at radius ``eps`` (box inherited from the estimator)."""
    from .attacks.fgsm import FGSM
    from .attacks.pgd import PGD
    params = dict(ATTACKS[name][1], eps=eps)
    if name == "fgsm":
        return FGSM(**params)
    if name == "pgd":
        return PGD(**params, random_state=seed)
    return _apgd_class()(**params, random_state=seed)


def _apgd_class():
    try:
        from .attacks.apgd import APGD
    except ImportError as exc:
        raise ReportOptionError(
            f"the APGD attack is not available in this robustsk ({exc}): leave it out with "
            "--attacks fgsm,pgd, or update robustsk.") from None
    return APGD


def _make_defense(name, *, eps, epochs, seed, device, callbacks):
    from . import defenses
    cls = getattr(defenses, DEFENSES[name])
    params = dict(eps=eps, clip_min=0.0, clip_max=1.0, max_epochs=epochs, random_state=seed,
                  device=device, **DEFENSE_PARAMS.get(name, {}))
    return cls(callbacks=callbacks, **params), params


def _epoch_callback(bar):
    """A skorch callback that advances a tqdm bar at the end of every epoch."""
    from skorch.callbacks import Callback

    class EpochProgress(Callback):
        def on_epoch_end(self, net, **kwargs):
            bar.set_postfix(loss=f"{net.history[-1, 'train_loss']:.3f}", refresh=False)
            bar.update(1)

    return EpochProgress()


def _versions():
    import matplotlib
    import pandas
    import sklearn
    import skorch
    import torch

    from . import __version__
    return {"python": platform.python_version(), "torch": torch.__version__,
            "skorch": skorch.__version__, "sklearn": sklearn.__version__,
            "numpy": np.__version__, "pandas": pandas.__version__,
            "matplotlib": matplotlib.__version__, "robustsk": __version__,
            "platform": platform.platform()}


def _plot(results, attacks, path, eps, title):
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(attacks), figsize=(4.2 * len(attacks), 3.6),
                             sharey=True, squeeze=False)
    for ax, attack in zip(axes[0], attacks):
        label = ATTACKS[attack][0]
        rows = results[results["attack"] == label]
        for defense, curve in rows.groupby("defense", sort=False):
            curve = curve.sort_values("eps")
            ax.plot(curve["eps"], curve["accuracy"], marker="o", label=defense)
        ax.axvline(eps, color="grey", linestyle=":", linewidth=1)
        ax.set_title(label)
        ax.set_xlabel("eps (Linf, [0, 1] pixels)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy")
    axes[0, -1].legend(loc="upper right", fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------- report
def run_report(*, dataset="digits", eps=0.1, eps_grid=DEFAULT_EPS_GRID, defenses=None,
               attacks=None, epochs=DEFAULT_EPOCHS, device="cpu", output="robustsk_report",
               seed=0, threads=None, n_train=None, n_test=None, quiet=True, options=None):
    """Train each defense, attack it over a grid of radii, and write the report.

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}, default="digits"
    eps : float, default=0.1
        Linf radius of training, and of the attacks in the summary table.
    eps_grid : str or sequence of float, default=DEFAULT_EPS_GRID
        Radii of the curves (a comma list or numbers); ``eps`` is added if absent.
    defenses : str or sequence of str, default=None
        Names from :data:`DEFENSES` (``"standard"``, ``"madry"``, ``"trades"``,
        ``"fat"``, ``"fast"``); None means all.
    attacks : str or sequence of str, default=None
        Names from :data:`ATTACKS` (``"fgsm"``, ``"pgd"``, ``"apgd"``); None means all.
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
        Subset sizes (see :func:`load_report_data`).
    quiet : bool, default=True
        False shows tqdm progress bars on stderr.
    options : dict, default=None
        Recorded in ``report.json`` as the command-line options.

    Returns
    -------
    result : ReportResult

    Raises
    ------
    ReportOptionError
        An unknown defense, attack or dataset name, a negative eps, a bad count.
    FileNotFoundError
        Fashion-MNIST was requested but its files are absent.

    Examples
    --------
    >>> result = run_report(defenses="standard,fast", attacks="fgsm", epochs=1,
    ...                     eps_grid="0,0.1", n_train=200, n_test=50,
    ...                     output="/tmp/robustsk_report_doctest")  # doctest: +SKIP
    >>> list(result.table.columns)  # doctest: +SKIP
    ['fit_seconds', 'clean', 'FGSM']
    """
    import pandas as pd
    import torch
    from tqdm import tqdm

    start = time.perf_counter()
    if dataset not in DATASETS:
        raise ReportOptionError(f"unknown dataset {dataset!r}: expected one of "
                                f"{', '.join(DATASETS)}.")
    eps = _check_eps(eps, "eps")
    grid = _eps_grid(eps_grid, eps)
    defense_names = _split_names(list(DEFENSES) if defenses is None else defenses, DEFENSES,
                                 "defenses")
    attack_names = _split_names(list(ATTACKS) if attacks is None else attacks, ATTACKS,
                                "attacks")
    epochs = _check_count(epochs, "epochs", 1)
    seed = _check_count(seed, "seed", 0)
    threads = _check_count(threads, "threads", 1)
    n_train = _check_count(n_train, "n_train", 2)
    n_test = _check_count(n_test, "n_test", 1)
    if "apgd" in attack_names:
        _apgd_class()  # fail now, not after the training
    X_train, y_train, X_test, y_test = load_report_data(dataset, n_train=n_train,
                                                        n_test=n_test, seed=seed)
    output_dir = Path(output)
    output_dir.mkdir(parents=True, exist_ok=True)

    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    rows, estimator_params = [], {}
    try:
        n_steps = len(attack_names) * len(grid)
        overall = tqdm(defense_names, desc="report", unit="defense", disable=quiet,
                       file=sys.stderr, position=0)
        for name in overall:
            overall.set_postfix_str(name)
            with tqdm(total=epochs, desc=f"  fit {name}", unit="epoch", leave=False,
                      disable=quiet, file=sys.stderr, position=1) as bar:
                clf, params = _make_defense(name, eps=eps, epochs=epochs, seed=seed,
                                            device=device,
                                            callbacks=[("progress", _epoch_callback(bar))])
                tic = time.perf_counter()
                clf.fit(X_train, y_train)
                fit_seconds = time.perf_counter() - tic
            estimator_params[name] = {"class": type(clf).__name__,
                                      **{k: _jsonable(v) for k, v in params.items()}}
            common = {"defense": name, "n_test": len(y_test), "fit_seconds": fit_seconds}
            correct = clf.predict(X_test) == y_test
            rows.append({**common, "attack": CLEAN, "eps": 0.0, "accuracy": float(correct.mean())})
            with tqdm(total=n_steps, desc=f"  attack {name}", unit="run", leave=False,
                      disable=quiet, file=sys.stderr, position=1) as bar:
                for attack in attack_names:
                    label = ATTACKS[attack][0]
                    for radius, accuracy in _accuracy_curve(clf, X_test, y_test, correct,
                                                            attack, grid, seed, bar):
                        rows.append({**common, "attack": label, "eps": radius,
                                     "accuracy": accuracy})
        overall.close()
    finally:
        torch.set_num_threads(previous_threads)

    columns = ["defense", "attack", "eps", "accuracy", "n_test", "fit_seconds"]
    results = pd.DataFrame(rows, columns=columns)
    table = _summary(results, defense_names, attack_names, eps)

    csv_path = output_dir / "results.csv"
    plot_path = output_dir / "accuracy_vs_eps.png"
    table_path = output_dir / "table.txt"
    info_path = output_dir / "report.json"
    results.to_csv(csv_path, index=False)
    _plot(results, attack_names, plot_path, eps,
          f"{dataset}: accuracy on {len(y_test)} test images (dotted: training eps {eps:g}, "
          f"{epochs} epochs)")
    total = time.perf_counter() - start
    info = {
        "versions": _versions(),
        "seed": seed,
        "torch_threads": used_threads,
        "device": device,
        "dataset": {"name": dataset, "n_train": int(len(y_train)),
                    "n_test": int(len(y_test)), "input_shape": list(X_train.shape[1:]),
                    "split": "stratified 75/25 of load_digits_images" if dataset == "digits"
                    else "first n_train / n_test images of Fashion-MNIST's train / test files"},
        "eps": eps,
        "eps_grid": grid,
        "defenses": estimator_params,
        "attacks": {ATTACKS[name][0]: _attack_info(name, seed) for name in attack_names},
        "options": _jsonable(options if options is not None else {
            "dataset": dataset, "eps": eps, "eps_grid": grid, "defenses": defense_names,
            "attacks": attack_names, "epochs": epochs, "device": device,
            "output": str(output), "seed": seed, "threads": threads,
            "n_train": n_train, "n_test": n_test}),
        "total_seconds": round(total, 2),
    }
    result = ReportResult(results=results, table=table, eps=eps, output_dir=output_dir,
                          csv_path=csv_path, plot_path=plot_path, table_path=table_path,
                          info_path=info_path, total_seconds=total, info=info)
    table_path.write_text(result.format_table() + "\n")
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return result


def _accuracy_curve(clf, X, y, correct, attack, grid, seed, bar):
    """Robust accuracy at each radius of ``grid`` (ascending), nested-ball style.

    An example broken at a smaller radius stays broken at the larger ones (its
    adversarial example lies in the larger ball too), so each radius attacks
    only the examples that survived the previous one: the same accuracy as
    the worst case over the radii up to eps, a curve that never rises, and far
    fewer attacked examples. Misclassified clean examples count as failures.
    Yields ``(eps, accuracy)``.
    """
    alive = np.array(correct, dtype=bool)
    for radius in grid:
        bar.set_postfix_str(f"{ATTACKS[attack][0]} eps={radius:g}", refresh=False)
        if radius > 0 and alive.any():
            index = np.flatnonzero(alive)
            X_adv = _make_attack(attack, radius, seed).generate(clf, X[index], y[index])
            alive[index] = clf.predict(X_adv) == y[index]
        bar.update(1)
        yield radius, float(alive.mean())


def _summary(results, defense_names, attack_names, eps):
    import pandas as pd
    table = pd.DataFrame(index=pd.Index(defense_names, name="defense"))
    first = results.groupby("defense", sort=False).first()
    table["fit_seconds"] = first["fit_seconds"]
    clean = results[results["attack"] == CLEAN].set_index("defense")["accuracy"]
    table[CLEAN] = clean
    for attack in attack_names:
        label = ATTACKS[attack][0]
        at = results[(results["attack"] == label) & np.isclose(results["eps"], eps)]
        table[label] = at.set_index("defense")["accuracy"]
    return table


def _attack_info(name, seed):
    """The attack's class and parameters (``eps`` runs over the grid; None: inherited)."""
    attack = _make_attack(name, 0.0, seed)
    params = {k: _jsonable(v) for k, v in attack.get_params().items() if k != "eps"}
    return {"class": type(attack).__name__, "eps": "eps_grid", **params,
            "note": "None means inherited from the attacked estimator (Linf, box [0, 1])"}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


# ------------------------------------------------------------ command line
def _names_type(choices, what):
    def parse(value):
        try:
            return _split_names(value, choices, what)
        except ReportOptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = what
    return parse


def _eps_type(value):
    try:
        return _check_eps(value, "--eps")
    except ReportOptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _grid_type(value):
    try:
        return _eps_grid(value)
    except ReportOptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int_type(minimum):
    def parse(value):
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer.") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{value!r}: expected an integer >= {minimum}.")
        return number
    parse.__name__ = "integer"
    return parse


def build_parser():
    """The ``robustsk`` argument parser, with its ``report`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="robustsk", description="robustsk: adversarial-robustness defenses as "
        "scikit-learn estimators.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    report = sub.add_parser(
        "report", help="train every defense, attack it, write a table, a CSV and a plot",
        description="Train the undefended baseline and each defense, measure clean and "
        "robust accuracy under FGSM, PGD-20 (step eps/4, random start) and APGD-CE "
        "(100 iterations) over a grid of Linf radii, print a summary table and write "
        "results.csv, accuracy_vs_eps.png, table.txt and report.json into --output.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    report.add_argument("--dataset", choices=DATASETS, default="digits",
                        help="digits: scikit-learn's 8x8 digits, stratified 75/25 split; "
                        "fashion-mnist: the IDX files of Debian's dataset-fashion-mnist "
                        "(or $ROBUSTSK_FASHION_MNIST)")
    report.add_argument("--eps", type=_eps_type, default=0.1,
                        help="Linf training radius in [0, 1] pixels; the table reports "
                        "the attacks at this radius")
    report.add_argument("--eps-grid", type=_grid_type,
                        default=",".join(f"{e:g}" for e in DEFAULT_EPS_GRID),
                        help="comma list of attack radii for the CSV and the plot "
                        "(--eps is added if missing)")
    report.add_argument("--defenses", type=_names_type(DEFENSES, "defenses"),
                        default=",".join(DEFENSES),
                        help="comma list from: " + ", ".join(DEFENSES))
    report.add_argument("--attacks", type=_names_type(ATTACKS, "attacks"),
                        default=",".join(ATTACKS),
                        help="comma list from: " + ", ".join(ATTACKS))
    report.add_argument("--epochs", type=_int_type(1), default=DEFAULT_EPOCHS,
                        help="max_epochs of every estimator")
    report.add_argument("--n-train", type=_int_type(2), default=None,
                        help="training subset size; None: all of digits' split, "
                        f"{FASHION_MNIST_SIZES[0]} images of fashion-mnist")
    report.add_argument("--n-test", type=_int_type(1), default=None,
                        help="test subset size; None: all of digits' split, "
                        f"{FASHION_MNIST_SIZES[1]} images of fashion-mnist")
    report.add_argument("--device", default="cpu", help='torch device, e.g. "cuda"')
    report.add_argument("--output", default="robustsk_report",
                        help="folder of the files (created; files in it overwritten)")
    report.add_argument("--seed", type=_int_type(0), default=0,
                        help="random_state of every estimator and attack, and of the split")
    report.add_argument("--threads", type=_int_type(1), default=DEFAULT_THREADS,
                        help="torch intra-op threads (the tiny networks gain little "
                        "from more; oversubscribed machines lose a lot)")
    report.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.report_parser = report  # main reports its errors with the subcommand's usage
    return parser


def main(argv=None):
    """The ``robustsk`` command line; returns the exit status.

    Accepts ``report [options]`` (the console script ``robustsk = robustsk.report:main``
    and ``python -m robustsk``). Invalid options exit with status 2 and a
    message, without a traceback.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    status : int
        0 on success.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    report_parser = parser.report_parser
    if args.eps > 1:
        report_parser.error(f"--eps {args.eps:g} is larger than the [0, 1] pixel range: "
                            "give a radius such as 0.1.")
    if args.device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            report_parser.error(f"--device {args.device}: CUDA is not available in this "
                                "torch; use --device cpu.")
    options = {"argv": ["robustsk", *argv], **{k: v for k, v in vars(args).items()
                                               if k != "command"}}
    start = time.perf_counter()
    try:
        result = run_report(dataset=args.dataset, eps=args.eps, eps_grid=args.eps_grid,
                            defenses=args.defenses, attacks=args.attacks, epochs=args.epochs,
                            device=args.device, output=args.output, seed=args.seed,
                            threads=args.threads, n_train=args.n_train, n_test=args.n_test,
                            quiet=args.quiet, options=options)
    except (ReportOptionError, FileNotFoundError) as exc:
        report_parser.error(str(exc))
    print(result.format_table())
    print(f"\nwrote {result.csv_path}, {result.plot_path}, {result.table_path}, "
          f"{result.info_path}")
    print(f"total run time: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
