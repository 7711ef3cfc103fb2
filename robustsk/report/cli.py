"""The ``robustsk`` command line: ``robustsk report [options]``."""
import argparse
import os
import sys
import time

from ..validation import check_device
from .attacks import ATTACKS
from .interrupt import EXIT_INTERRUPTED, ReportInterrupted
from .options import (
    DATASETS,
    DEFAULT_ATTACKS,
    DEFAULT_DEFENSES,
    DEFAULT_EPOCHS,
    DEFAULT_EPS,
    DEFAULT_EPS_GRID,
    DEFAULT_L2_EPS_GRID,
    DEFAULT_PROTECTED,
    DEFAULT_THREADS,
    DEFENSES,
    FASHION_MNIST_SIZES,
    NORMS,
    ReportOptionError,
    check_eps,
    check_norm,
    eps_grid,
    split_names,
)
from .run import run_report

__all__ = ["build_parser", "main"]


def _argument_type(check, name):
    """An argparse type from a check that raises ReportOptionError."""
    def parse(value):
        try:
            return check(value)
        except ReportOptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = name
    return parse


def _int_type(minimum, maximum=None, why=""):
    def parse(value):
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer.") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{value!r}: expected an integer >= {minimum}.")
        if maximum is not None and number > maximum:
            raise argparse.ArgumentTypeError(
                f"{value!r}: expected an integer in [{minimum}, {maximum}]{why}.")
        return number
    parse.__name__ = "integer"
    return parse


def _device(value):
    try:
        return check_device(value, "--device")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _attack_help():
    return "comma list from: " + "; ".join(f"{name} ({spec.summary})"
                                          for name, spec in ATTACKS.items())


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, except None (whose help says what None means)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser():
    """The ``robustsk`` argument parser, with its ``report`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="robustsk", description="robustsk: adversarial-robustness defenses as "
        "scikit-learn estimators.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    report = sub.add_parser(
        "report", help="train every defense, attack it, write a table, CSVs and a plot",
        description="Train the undefended baseline and each defense (or load your own model "
        "with --model), measure clean and robust accuracy over a grid of Linf or L2 radii with "
        "95% Wilson intervals, run cheap gradient-masking checks, compare each defense with "
        "the baseline (exact McNemar, Holm-adjusted), certify each model at eps by interval "
        "bound propagation, print a summary and write results.csv, per_example.csv, "
        "per_class.csv, mcnemar_vs_baseline.csv, certified.csv, accuracy_vs_eps.png, table.txt and "
        "report.json into --output. Before it starts it prints an estimate of its cost "
        "(from one timed batch) and warns when that is over 10 minutes.",
        formatter_class=_DefaultsHelp)
    add = report.add_argument
    add("--dataset", choices=DATASETS, default="digits",
        help="digits: scikit-learn's 8x8 digits, stratified 75/25 split; fashion-mnist: the "
        "IDX files of Debian's dataset-fashion-mnist (or $ROBUSTSK_FASHION_MNIST)")
    add("--norm", type=_argument_type(check_norm, "norm"), default="inf", choices=NORMS,
        help="the ball of training and of every attack: inf (Linf) or 2 (L2)")
    add("--eps", type=_argument_type(lambda v: check_eps(v, "--eps"), "eps"), default=None,
        help="attack radius in [0, 1] pixel units of the table, the McNemar tests and the "
        "masking checks, and the training radius unless --train-eps is given; "
        f"default {DEFAULT_EPS['inf']:g} (--norm inf) or {DEFAULT_EPS['2']:g} (--norm 2)")
    add("--train-eps", type=_argument_type(lambda v: check_eps(v, "--train-eps"), "train-eps"),
        default=None, help="training radius of the defenses, when it should differ from "
        "--eps (e.g. train at 0.1, attack at 0.05); default: --eps")
    add("--eps-grid", type=_argument_type(eps_grid, "eps-grid"), default=None,
        help="comma list of attack radii for the CSV and the plot (--eps is added if "
        "missing); default " + ",".join(f"{e:g}" for e in DEFAULT_EPS_GRID) + " (--norm inf) "
        "or " + ",".join(f"{e:g}" for e in DEFAULT_L2_EPS_GRID) + " (--norm 2)")
    add("--defenses", type=_argument_type(lambda v: split_names(v, DEFENSES, "defenses"),
                                          "defenses"),
        default=None,
        help="comma list from: " + ", ".join(DEFENSES) + ", or all; " + ",".join(DEFAULT_DEFENSES)
        + " when not given")
    add("--protect-classes", default=",".join(map(str, DEFAULT_PROTECTED)),
        help="comma list of the labels the cost-sensitive defense protects (its per-class "
        "accuracy is in per_class.csv)")
    add("--attacks", type=_argument_type(lambda v: split_names(v, ATTACKS, "attacks"),
                                         "attacks"),
        default=",".join(DEFAULT_ATTACKS), help=_attack_help())
    add("--model", metavar="PATH", default=None,
        help="evaluate your own fitted classifier, saved with robustsk.io.save (or "
        "skops.io.dump), instead of training the defenses; loading it runs no code from the "
        "file. Pickle and joblib files are refused unless --trust-pickle is given. It is "
        "evaluated on --dataset's test split (same --seed): if it "
        "was trained on those images, its accuracies are optimistic. Gradient attacks on a "
        "model they cannot differentiate are replaced by square and spsa")
    add("--trust-pickle", action="store_true",
        help="let --model be a pickle or joblib file. WARNING: unpickling runs code from the "
        "file: only give files you trust")
    add("--trust", metavar="NAMES", default=None,
        help="comma list of further types or modules a --model file may hold, beyond "
        "scikit-learn's common ones and robustsk, torch.nn and torch.optim (e.g. "
        "sklearn.tree._tree.Tree for a decision tree saved with skops); the error names them")
    add("--flatten", action="store_true",
        help="feed flat features (64 for digits) instead of (1, H, W) images, e.g. to a "
        "--model fitted on tabular digits")
    add("--masking-checks", action=argparse.BooleanOptionalAction, default=True,
        help="run robustsk.evaluation.check_gradient_masking on each model at --eps (100 "
        "test images, cheap settings: 2-4 s per model)")
    add("--epochs", type=_int_type(1), default=DEFAULT_EPOCHS,
        help="max_epochs of every estimator")
    add("--n-train", type=_int_type(2), default=None,
        help="training subset size, at most the split's (1347 digits, 60000 fashion-mnist "
        f"images); None: all of digits' split, {FASHION_MNIST_SIZES[0]} images of fashion-mnist")
    add("--n-test", type=_int_type(1), default=None,
        help="test subset size, at most the split's (450 digits, 10000 fashion-mnist images); "
        f"None: all of digits' split, {FASHION_MNIST_SIZES[1]} images of fashion-mnist")
    add("--device", type=_device, default="cpu", help='torch device, e.g. "cuda"')
    add("--output", default="robustsk_report",
        help="folder of the files (created; files in it overwritten)")
    add("--seed", type=_int_type(0, 2**32 - 1, " (numpy seeds are 32-bit)"), default=0,
        help="random_state of every estimator and attack, and of the split")
    add("--threads", type=_int_type(1, max(os.cpu_count() or 1, DEFAULT_THREADS),
                                    f" (this machine has {os.cpu_count()} CPUs)"),
        default=DEFAULT_THREADS,
        help="torch intra-op threads (the tiny networks gain little from more; "
        "oversubscribed machines lose a lot)")
    add("--quiet", action="store_true", help="no progress bars")
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
        0 on success; 130 when Ctrl-C interrupted the report (the rows done
        so far are written, and ``report.json`` says ``"interrupted": true``).
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    report_parser = parser.report_parser
    # the largest distance between two images in [0, 1]: 1 in Linf, sqrt(pixels) in L2
    diameter = 1.0 if args.norm == "inf" else (64 if args.dataset == "digits" else 784) ** 0.5
    for flag, value in (("--eps", args.eps), ("--train-eps", args.train_eps)):
        if value is not None and value > diameter:
            report_parser.error(
                f"{flag} {value:g} is larger than {diameter:g}, the largest "
                f"{'Linf' if args.norm == 'inf' else 'L2'} distance between two {args.dataset} "
                "images in [0, 1]: give a radius such as "
                f"{'0.1 (or --norm 2)' if args.norm == 'inf' else '1'}.")
    if args.model is not None and args.train_eps is not None:
        report_parser.error("--train-eps sets the defenses' training radius, but --model "
                            "trains nothing: leave it out.")
    options = {"argv": ["robustsk", *argv], **{k: v for k, v in vars(args).items()
                                               if k != "command"}}
    start = time.perf_counter()
    try:
        result = run_report(dataset=args.dataset, eps=args.eps, eps_grid=args.eps_grid,
                            defenses=args.defenses, attacks=args.attacks, epochs=args.epochs,
                            device=args.device, output=args.output, seed=args.seed,
                            threads=args.threads, n_train=args.n_train, n_test=args.n_test,
                            model=args.model, flatten=args.flatten,
                            masking_checks=args.masking_checks, quiet=args.quiet,
                            protect_classes=args.protect_classes, options=options,
                            norm=args.norm, train_eps=args.train_eps,
                            trust_pickle=args.trust_pickle,
                            trusted=None if args.trust is None else
                            [t.strip() for t in args.trust.split(",") if t.strip()])
    except (ReportOptionError, FileNotFoundError) as exc:
        report_parser.error(str(exc))
    except ReportInterrupted as exc:  # the rows done so far are written
        print(f"\n{exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\nrobustsk report was interrupted (Ctrl-C) before any row was done; nothing "
              "was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(result.summary_text())
    written = (result.csv_path, result.per_example_path, result.per_class_path,
               result.certified_path, result.mcnemar_path, result.plot_path,
               result.table_path, result.info_path)
    print(f"\nwrote {', '.join(map(str, written))}")
    print(f"total run time: {time.perf_counter() - start:.1f} s")
    return 0
