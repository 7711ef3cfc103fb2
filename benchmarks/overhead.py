"""How much slower is one robustsk epoch than the same epoch in raw PyTorch, and how much memory?

Times one epoch of each defense that has a raw loop here (``standard``,
:class:`~robustsk.defenses.StandardTraining`; ``madry``,
:class:`~robustsk.defenses.AdversarialTraining`; ``fast``,
:class:`~robustsk.defenses.FastAdversarialTraining`; ``trades``,
:class:`~robustsk.defenses.TRADES`; ``friendly``,
:class:`~robustsk.defenses.FriendlyAdversarialTraining` with tau 0;
``interpolated``, :class:`~robustsk.defenses.InterpolatedAdversarialTraining`
with alpha 1; ``cost``, :class:`~robustsk.defenses.CostSensitiveAdversarialTraining`
protecting class 0 with weight 4; ``mce``, ``AdversarialTraining(criterion=MCELoss)``)
against a hand-written PyTorch loop doing the same arithmetic
(``benchmarks/raw_loops.py`` and ``raw_loss`` below): the same network
(:class:`~robustsk.modules.SmallCNN` for (1, 28, 28) images, same initial
weights), the same Fashion-MNIST subset, batch size, optimizer (Adam, lr 1e-3)
and training attack (``n_iter`` signed steps of ``eps / 4`` in the Linf ball,
network in eval mode with its parameters frozen, last iterate; PGD from a
uniform random start with CE (with the MCE loss for ``mce``), FGSM-RS one step
of ``1.25 eps``, TRADES from ``x + 0.001 N(0, 1)`` with the KL to the clean
prediction and the loss ``CE + beta * KL``, FAT early-stopped PGD: an example
freezes at its first misclassified iterate, ``0.001 N(0, 1)`` noise before
each projection; mixup with lambda ~ Beta(1, 1) on the clean batch and on the
PGD batch, loss averaged). Six more defenses have their raw loop in a module
of its own: ``dynamic`` (``raw_dynamic.py``,
:class:`~robustsk.defenses.DynamicAdversarialTraining`), ``jsigr``
(``raw_jsigr.py``, :class:`~robustsk.defenses.JacobianSaliencyRegularization`),
``dial`` (``raw_dial.py``, :class:`~robustsk.defenses.DomainInvariantAdversarialLearning`
with its domain head), ``rub`` (``raw_rub.py``,
:class:`~robustsk.defenses.RobustUpperBoundTraining`, aRUB on its own MLP),
``afd`` (``raw_afd.py``, :class:`~robustsk.defenses.AdversarialFeatureDesensitization`:
APGD-CE by hand, three optimizers) and ``trs`` (``raw_trs.py``,
:class:`~robustsk.defenses.TRSEnsemble`, three members).

Memory (``--memory``): every defense of ``all_defenses()`` (raw loop or not)
fits one epoch in a fresh subprocess; the table gives that epoch's seconds,
the process's peak resident memory (``ru_maxrss``) and the peak's growth
during the fit divided by the batch size (KiB per example in the batch:
activations, graphs and attack state scale with the batch). tracemalloc
does not see torch's CPU allocations, hence ``ru_maxrss``.

What is timed
    robustsk: ``partial_fit`` of an already fitted estimator with
    ``max_epochs=1`` (one epoch that keeps the weights and the optimizer state),
    which includes all that a user pays per call: input validation, skorch's
    dataset/iterator/callbacks/history and the seeding (the check forward pass
    on 64 training examples that ``fit`` ends with runs in ``partial_fit`` only
    on the call that initialises the model). ``--timed fit`` times ``fit``
    instead (also rebuilding the module and the optimizer, and the check; the
    raw side then also builds a fresh model and optimizer).
    raw: one pass of the loop below over tensors already in memory.

The two alternate which one runs first, run after run; each run gives one
ratio robustsk / raw, and the script prints their median and range with the
median seconds per epoch of each side. The machine is noisy: single runs vary
by about +-10 %, so trust the median over ``--runs`` (at least 10).

Before timing, ``--check`` (on by default) trains both sides for one epoch from
the same seed on a few hundred examples and prints the largest difference of
their weights: 0.0 (bitwise the same weights) shows the raw loop does exactly
the same arithmetic, in the same order, with the same random draws.

Data: Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package. If it is
missing::

    apt-get install dataset-fashion-mnist
    # or point ROBUSTSK_FASHION_MNIST at a folder with the IDX files

Usage::

    python benchmarks/overhead.py --runs 10        # one epoch of 2048 is 10-100 s on a CPU core
    python benchmarks/overhead.py --quick          # 256 examples, 3 runs, 3 steps: a smoke run
    python benchmarks/overhead.py --control        # also an A/A ratio (raw against raw)
    python benchmarks/overhead.py --memory-only    # only the memory table, every defense

Options: ``--n-samples`` (2048), ``--runs`` (10), ``--batch-size`` (64),
``--n-iter`` (10), ``--eps`` (0.1), ``--beta`` (6.0), ``--threads`` (1, for
``torch.set_num_threads``; 2 only on an otherwise idle 2-core machine), ``--defenses``
(all five), ``--timed`` (partial_fit or fit), ``--no-check``, ``--memory`` /
``--memory-only``, ``--quick``.
"""
import argparse
import copy
import gc
import importlib
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F

try:
    import robustsk
except ImportError:  # run from a source tree without installing: use the tree's package
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import robustsk
from robustsk.base import NearChanceWarning, shuffle_seed, torch_seed
from robustsk.criteria import MCELoss
from robustsk.datasets import load_fashion_mnist
from robustsk.defenses import (
    TRADES,
    AdversarialTraining,
    CostSensitiveAdversarialTraining,
    FastAdversarialTraining,
    FriendlyAdversarialTraining,
    InterpolatedAdversarialTraining,
    StandardTraining,
    all_defenses,
)
from robustsk.modules import SmallCNN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_loops import (  # noqa: E402
    cost_weighted_loss,
    frozen,
    mce_per_example,
    mixup_draw,
    mixup_loss,
    raw_es_pgd,
    raw_pgd,
    raw_pgd_kl,
)

INPUT_SHAPE, N_CLASSES = (1, 28, 28), 10


# ---------------------------------------------------------------- raw PyTorch
#: cost-sensitive AT here protects class 0 with weight 4 (its default protection_weight)
COSTS = torch.ones(N_CLASSES, N_CLASSES)
COSTS[0] = 4.0
COSTS.fill_diagonal_(0.0)


def _examples(model, defense, x, t, eps, step_size, n_iter, gen):
    """The training attack of ``defense`` on one batch."""
    if defense == "fast":
        return raw_pgd(model, x, t, eps, 1.25 * eps, 1, gen)
    if defense == "friendly":
        return raw_es_pgd(model, x, t, eps, step_size, n_iter, gen)
    if defense == "trades":
        return raw_pgd_kl(model, x, eps, step_size, n_iter, gen)
    loss = mce_per_example if defense == "mce" else None
    return raw_pgd(model, x, t, eps, step_size, n_iter, gen, per_example_loss=loss)


def _attacked(model, *args):
    """:func:`_examples` with the network in eval mode and its parameters frozen."""
    model.eval()
    frozen(model, True)
    try:
        return _examples(model, *args)
    finally:
        frozen(model, False)
        model.train()


def raw_loss(defense, model, x, t, *, eps, step_size, n_iter, beta, gen, epoch=0,
             batch=None):
    """The loss of one batch of ``defense``, attack included, in plain PyTorch.

    ``epoch`` is the number of epochs robustsk had trained before the epoch this
    one mirrors (defenses with a schedule, such as FOSC's threshold, read it);
    ``batch`` is ``(index of this batch in the epoch, batches per epoch)`` for a
    plug-in whose hook declares a ``batch`` keyword (a schedule within the epoch,
    such as margin boosting's stages; see :func:`_takes_batch`), else None.
    """
    model.train()
    hook = _hook(defense, "raw_loss")
    if hook:
        extra = {} if batch is None else {"batch": batch}
        return hook(model, x, t, eps=eps, step_size=step_size, n_iter=n_iter, gen=gen,
                    epoch=epoch, **extra)
    if defense == "standard":
        return F.cross_entropy(model(x), t)
    attack = (defense, x, t, eps, step_size, n_iter, gen)
    if defense == "interpolated":  # mixup on clean, then on PGD examples (alpha 1)
        clean = mixup_loss(model, x, t, *mixup_draw(gen, len(x), 1.0))
        x_adv = _attacked(model, *attack)
        return (clean + mixup_loss(model, x_adv, t, *mixup_draw(gen, len(x), 1.0))) / 2
    x_adv = _attacked(model, *attack)
    if defense == "trades":
        logits = model(x)
        kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1),
                      reduction="batchmean")
        return F.cross_entropy(logits, t) + beta * kl
    logits = model(x_adv)
    if defense == "mce":
        return mce_per_example(logits, t).mean()
    if defense == "cost":
        return cost_weighted_loss(logits, t, COSTS)
    return F.cross_entropy(logits, t)


def raw_epoch(model, optimizer, X, y, *, defense, eps, step_size, n_iter, beta, batch_size,
              gen, epoch=0, order_gen=None):
    """One epoch of a defense of ``DEFENSES``, written as one would in plain PyTorch.

    The batches' order is drawn from ``order_gen`` (``gen`` when None), the
    attacks' noise from ``gen``.
    """
    order = torch.randperm(len(X), generator=gen if order_gen is None else order_gen)
    total = 0.0
    custom_step = _hook(defense, "raw_step")
    takes_batch = _takes_batch(custom_step or _hook(defense, "raw_loss"))  # once, not per batch
    n_batches = -(-len(X) // batch_size)
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        batch = (start // batch_size, n_batches) if takes_batch else None
        if custom_step is not None:  # several optimizers, updates in the defense's order
            extra = {} if batch is None else {"batch": batch}
            loss = custom_step(model, optimizer, X[idx], y[idx], eps=eps, step_size=step_size,
                               n_iter=n_iter, gen=gen, epoch=epoch, **extra)
            total += float(loss) * len(idx)
            continue
        optimizer.zero_grad()
        loss = raw_loss(defense, model, X[idx], y[idx], eps=eps, step_size=step_size,
                        n_iter=n_iter, beta=beta, gen=gen, epoch=epoch, batch=batch)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    return total / len(X)


def _takes_batch(hook):
    """Whether a plug-in hook declares the ``batch`` keyword (False for no hook)."""
    return hook is not None and "batch" in inspect.signature(hook).parameters


def _hook(defense, name):
    """The plug-in function ``name`` of ``defense`` (see :data:`PLUGIN_MODULES`), or None."""
    return getattr(PLUGINS.get(defense), name, None)


def _raw_model(lr, defense=None):
    hook = _hook(defense, "raw_model")
    if hook:
        return hook(lr, INPUT_SHAPE, N_CLASSES)
    model = SmallCNN(INPUT_SHAPE, N_CLASSES)
    return model, torch.optim.Adam(model.parameters(), lr=lr)


def _robustsk_state(defense, clf):
    """robustsk's (module, optimizer) state dicts, in the raw side's format."""
    hook = _hook(defense, "robustsk_state")
    if hook:
        return hook(clf)
    return clf.module_.state_dict(), clf.optimizer_.state_dict()


def _load_robustsk_state(defense, clf, module_state, optimizer_state):
    """Load a pair of :func:`_robustsk_state` back into robustsk's estimator."""
    hook = _hook(defense, "load_robustsk_state")
    if hook:
        return hook(clf, module_state, optimizer_state)
    clf.module_.load_state_dict(module_state)
    clf.optimizer_.load_state_dict(optimizer_state)


def _robustsk_parameters(defense, clf):
    """robustsk's trained parameters, named as the raw side's ``named_parameters()``."""
    hook = _hook(defense, "robustsk_parameters")
    if hook:
        return hook(clf)
    return dict(clf.module_.named_parameters())


# ---------------------------------------------------------------- robustsk
#: the defenses with a raw loop here
DEFENSES = {"standard": StandardTraining, "madry": AdversarialTraining,
            "fast": FastAdversarialTraining, "trades": TRADES,
            "friendly": FriendlyAdversarialTraining,
            "interpolated": InterpolatedAdversarialTraining,
            "cost": CostSensitiveAdversarialTraining, "mce": AdversarialTraining}
#: defenses whose raw loop is a module of its own (``benchmarks/raw_<name>.py``), each
#: with ``NAME``, ``ESTIMATOR``, ``raw_loss(model, x, t, *, eps, step_size, n_iter, gen,
#: epoch)`` (the loss of one batch; ``raw_epoch`` steps the optimizer; a hook that also
#: declares ``batch`` gets ``(index of the batch in the epoch, batches per epoch)``) or
#: ``raw_step(model, optimizer, x, t, *, same keywords)`` (a whole batch's updates,
#: returning the loss to report: several optimizers), and optionally
#: ``estimator_kwargs(args)``, ``raw_model(lr, input_shape, n_classes)``,
#: ``robustsk_state(clf)``, ``load_robustsk_state(clf, module_state, optimizer_state)``
#: and ``robustsk_parameters(clf)``. ``raw_model``'s optimizer may be any object with
#: ``state_dict`` and ``load_state_dict`` (several optimizers in one, say).
PLUGIN_MODULES = ("raw_dynamic", "raw_jsigr", "raw_dial", "raw_rub", "raw_rub_mlp", "raw_afd",
                  "raw_trs", "raw_margin_boosting", "raw_ensemble_at", "raw_sdp", "raw_iwd")
PLUGINS = {}
for _name in PLUGIN_MODULES:
    try:
        _plugin = importlib.import_module(_name)
    except ModuleNotFoundError as err:
        if err.name != _name:
            raise
        continue
    PLUGINS[_plugin.NAME] = _plugin
    DEFENSES[_plugin.NAME] = _plugin.ESTIMATOR
#: the issue's targets: median ratio <= 1.02 for these, <= 1.05 for the others
STRICT = {"madry", "trades", "friendly"}


def _estimator(defense, args, random_state=0):
    cls = DEFENSES[defense] if defense in DEFENSES else all_defenses()[defense]
    extra = {"beta": args.beta} if defense == "trades" else {}
    hook = _hook(defense, "estimator_kwargs")
    if hook:
        extra = hook(args)
    if defense == "friendly":
        extra = {"tau": 0}
    if cls.__name__ == "CostSensitiveAdversarialTraining":
        extra = {"protected_classes": [0]}  # protection_weight 4 (the default)
    if defense == "mce":
        extra = {"criterion": MCELoss}
    params = dict(eps=args.eps, n_iter=args.n_iter, clip_min=0.0, clip_max=1.0, lr=1e-3,
                  batch_size=args.batch_size, max_epochs=1, random_state=random_state)
    if defense == "standard":
        params = {k: v for k, v in params.items() if k not in ("eps", "n_iter")}
    # iterator_train__shuffle=True is robustsk's default; said here for the reader.
    return cls(**params, iterator_train__shuffle=True, **extra)


def memory_child(defense, args):
    """One epoch of ``defense`` in this (fresh) process: seconds and peak RSS, as JSON."""
    torch.set_num_threads(args.threads)
    X, y = load_fashion_mnist(subset="train", n_samples=args.n_samples, return_X_y=True)
    clf = _estimator(defense, args)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "before_kib": before, "peak_kib": after}))


def memory_table(args):
    """Every defense of ``all_defenses()`` in a fresh subprocess, one after the other."""
    names = [n for n in DEFENSES] + [n for n in all_defenses()
                                     if all_defenses()[n] not in DEFENSES.values()]
    if args.memory_defenses:
        names = [n for n in names if n in args.memory_defenses]
    print(f"\nmemory: one fit(max_epochs=1) per defense in a fresh process, "
          f"{args.n_samples} examples, batch {args.batch_size}, {args.n_iter} attack steps")
    header = (f"{'defense':<34} | {'s/epoch':>8} | {'peak RSS MiB':>12} | "
              f"{'growth MiB':>10} | {'KiB/example':>11}")
    print(header)
    print("-" * len(header))
    # the children measure glibc as users run it, not the timing's steady settings
    child_env = dict(os.environ)
    if args.malloc == "steady":
        for key in STEADY_MALLOC:
            child_env.pop(key, None)
    rows = {}
    for name in names:
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", name,
               "--n-samples", str(args.n_samples), "--batch-size", str(args.batch_size),
               "--n-iter", str(args.n_iter), "--eps", str(args.eps), "--beta", str(args.beta),
               "--threads", str(args.threads)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=child_env,
                                  timeout=args.memory_timeout)
            out = json.loads(done.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            print(f"{name:<34} | skipped: longer than {args.memory_timeout} s")
            continue
        except (IndexError, json.JSONDecodeError):
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:90]
            print(f"{name:<34} | failed: {reason}")
            continue
        growth = (out["peak_kib"] - out["before_kib"]) / 1024
        rows[name] = out
        print(f"{name:<34} | {out['seconds']:>8.2f} | {out['peak_kib'] / 1024:>12.1f} | "
              f"{growth:>10.1f} | {growth * 1024 / args.batch_size:>11.1f}")
    return rows


def check_same_arithmetic(defense, args, X, y, n=256):
    """Largest absolute weight difference after one epoch from the same seed."""
    with warnings.catch_warnings():  # one epoch on 256 examples is near chance: expected
        warnings.simplefilter("ignore", NearChanceWarning)
        clf = _estimator(defense, args, random_state=0).fit(X[:n], y[:n])
    with torch.random.fork_rng():
        torch.manual_seed(torch_seed(0))  # what robustsk's fit seeds torch with
        model, optimizer = _raw_model(1e-3, defense)
        raw_epoch(model, optimizer, torch.from_numpy(X[:n]), torch.from_numpy(y[:n]),
                  defense=defense, eps=args.eps, step_size=args.eps / 4, n_iter=args.n_iter,
                  beta=args.beta, batch_size=args.batch_size, gen=torch.default_generator,
                  order_gen=torch.Generator().manual_seed(shuffle_seed(0, 1)))  # epoch 1
    theirs = dict(model.named_parameters())
    ours = _robustsk_parameters(defense, clf)
    if set(ours) != set(theirs):
        raise ValueError(f"{defense}: robustsk's parameters {sorted(ours)} are not the raw "
                         f"loop's {sorted(theirs)}")
    return max(float((p.detach() - theirs[name].detach()).abs().max())
               for name, p in ours.items())


# ---------------------------------------------------------------- timing
#: glibc keeps freed memory instead of returning it to the system (large blocks are
#: otherwise mmap-ed and unmapped, and the heap trimmed): an epoch then stops paying
#: page faults on memory it touches again (100-200 thousand per epoch of 256 examples
#: measured here, and an amount that depends on the heap's history, so it added tens
#: of percent of noise to single ratios). Both sides run under the same settings.
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "4294967296"}


def _steady_malloc():
    """Whether this process runs under :data:`STEADY_MALLOC`."""
    return all(os.environ.get(k) == v for k, v in STEADY_MALLOC.items())

def _timed(fn):
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _summary(values):
    return statistics.median(values), min(values), max(values)


def _median_interval(values, n_boot=2000, level=0.95):
    """Percentile bootstrap interval of the median (fixed seed: the same input, the same
    interval)."""
    gen = torch.Generator().manual_seed(0)
    v = torch.tensor(values, dtype=torch.float64)
    idx = torch.randint(len(v), (n_boot, len(v)), generator=gen)
    medians = v[idx].median(dim=1).values.sort().values  # lower median, as torch does
    lo = medians[int((1 - level) / 2 * n_boot)]
    hi = medians[min(int((1 + level) / 2 * n_boot), n_boot - 1)]
    return float(lo), float(hi)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-iter", type=int, default=10)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--beta", type=float, default=6.0)
    # One thread by default: on a 2-core machine with anything else running, two
    # OpenMP threads straggle (measured here: a forward pass 4x slower than with one).
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--defenses", nargs="+", choices=list(DEFENSES),
                        default=list(DEFENSES))
    parser.add_argument("--timed", choices=["partial_fit", "fit"], default="partial_fit")
    parser.add_argument("--no-check", dest="check", action="store_false")
    parser.add_argument("--memory", action="store_true",
                        help="also the memory table of every defense (fresh subprocesses)")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--memory-timeout", type=float, default=600.0)
    parser.add_argument("--memory-defenses", nargs="+",
                        help="only these (short names of the raw loops or class names)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--control", action="store_true",
                        help="per run, also time the first defense's raw epoch against itself "
                             "(an A/A ratio: how far a ratio moves by noise alone)")
    parser.add_argument("--malloc", choices=["steady", "default"], default="steady",
                        help="steady (default): rerun under glibc settings that keep freed "
                             "memory in the process; default: glibc as it is")
    parser.add_argument("--quick", action="store_true",
                        help="256 examples, 3 runs, 3 attack steps: checks the script runs")
    args = parser.parse_args(argv)
    timing = not (args.memory_only or args.memory_child)
    if timing and args.malloc == "steady" and argv is None and not _steady_malloc():
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]],
                  {**os.environ, **STEADY_MALLOC})
    if args.quick:
        args.n_samples, args.runs, args.n_iter = 256, 3, 3
    if args.runs < 1 or args.n_samples < 1:
        parser.error("--runs and --n-samples must be at least 1")
    if args.memory_child:
        return memory_child(args.memory_child, args)
    if args.memory_only:
        return memory_table(args)
    torch.set_num_threads(args.threads)
    try:
        X_np, y_np = load_fashion_mnist(subset="train", n_samples=args.n_samples,
                                        return_X_y=True)
    except FileNotFoundError as err:
        raise SystemExit(f"{err}\nThis benchmark needs Fashion-MNIST: "
                         "apt-get install dataset-fashion-mnist") from None
    X, y = torch.from_numpy(X_np), torch.from_numpy(y_np)
    step_size = args.eps / 4
    print(f"Fashion-MNIST train[:{len(X)}], SmallCNN(1x28x28), batch {args.batch_size}, Adam "
          f"lr 1e-3, Linf eps {args.eps}, {args.n_iter} steps of {step_size:g}, "
          f"TRADES beta {args.beta:g}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); {args.runs} runs, order alternating; "
          f"robustsk from {os.path.dirname(robustsk.__file__)}")
    settings = ", ".join(f"{k}={v}" for k, v in STEADY_MALLOC.items())
    print(f"glibc malloc: {f'steady ({settings})' if _steady_malloc() else 'as the environment sets it'}")
    print(f"timed per epoch: robustsk {args.timed}(max_epochs=1"
          + (", warm: weights and Adam state kept" if args.timed == "partial_fit"
             else ", fresh module and optimizer, incl. the post-fit check")
          + ", incl. input validation) vs one raw PyTorch epoch"
          + (" (after building a fresh model and optimizer)" if args.timed == "fit" else ""))
    if args.check:
        for defense in args.defenses:
            n_check = min(256, len(X_np))
            diff = check_same_arithmetic(defense, args, X_np, y_np, n=n_check)
            print(f"check {defense}: max |w_robustsk - w_raw| after one epoch on {n_check} "
                  f"examples from the same seed = {diff:.1e}")

    sides = {}
    for defense in args.defenses:
        clf = _estimator(defense, args).fit(X_np, y_np)  # warm-up epoch (not timed)
        model, optimizer = _raw_model(1e-3, defense)
        model.load_state_dict(_robustsk_state(defense, clf)[0])
        gen = torch.Generator().manual_seed(0)
        # the raw side mirrors robustsk's epoch of the same run (schedules read it): the
        # partial_fit of run r follows epoch0 + r epochs (reset never rewinds the history)
        epoch0, epoch = len(clf.history), [len(clf.history)]
        kw = dict(defense=defense, eps=args.eps, step_size=step_size, n_iter=args.n_iter,
                  beta=args.beta, batch_size=args.batch_size, gen=gen)
        raw_epoch(model, optimizer, X, y, **kw, epoch=epoch[0])  # warm-up epoch (not timed)
        # Every timed pair starts from the same weights and Adam state (robustsk's after
        # its warm-up epoch): two copies trained apart drift into states of different
        # cost (an epoch's time moved by 30 % between runs for interpolated AT).
        start = copy.deepcopy(_robustsk_state(defense, clf))

        def reset(run, defense=defense, clf=clf, model=model, optimizer=optimizer,
                  start=start, epoch=epoch, epoch0=epoch0):
            if args.timed == "partial_fit":
                model.load_state_dict(start[0])
                optimizer.load_state_dict(copy.deepcopy(start[1]))
                _load_robustsk_state(defense, clf, *copy.deepcopy(start))
            epoch[0] = epoch0 + run if args.timed == "partial_fit" else 0

        def rsk(clf=clf):
            (clf.partial_fit if args.timed == "partial_fit" else clf.fit)(X_np, y_np)

        def raw(state=[model, optimizer], kw=kw, defense=defense, epoch=epoch):
            if args.timed == "fit":
                state[:] = _raw_model(1e-3, defense)
            raw_epoch(*state, X, y, **kw, epoch=epoch[0])

        sides[defense] = (rsk, raw, [], [], reset)

    control = []  # raw / raw: the noise floor of one ratio on this machine
    for run in range(args.runs):
        for rsk, raw, t_rsk, t_raw, reset in sides.values():
            pair = [(rsk, t_rsk), (raw, t_raw)]
            for fn, times in (pair if run % 2 == 0 else pair[::-1]):
                reset(run)  # outside the timing
                times.append(_timed(fn))
        if args.control:  # the first defense's raw epoch against itself, in the same order
            _, raw, _, _, reset = next(iter(sides.values()))
            slots = []
            for _ in range(2):
                reset(run)
                slots.append(_timed(raw))
            control.append(slots[0] / slots[1] if run % 2 == 0 else slots[1] / slots[0])
        print(f"run {run + 1}: " + ", ".join(f"{d} {s[2][-1] / s[3][-1]:.3f}"
                                              for d, s in sides.items())
              + (f", control {control[-1]:.3f}" if control else ""), flush=True)

    header = (f"{'defense':<15} | {'ratio robustsk/raw: median':>26} {'95% CI':>15} "
              f"{'[min, max]':>15} | {'s/epoch robustsk':>16} {'raw':>6} | target")
    print(header)
    print("-" * len(header))
    medians = {}

    def row(name, ratios, rest):
        med, lo, hi = _summary(ratios)
        c_lo, c_hi = _median_interval(ratios)
        print(f"{name:<15} | {med:>26.3f} {f'[{c_lo:.3f}, {c_hi:.3f}]':>15} "
              f"{f'[{lo:.3f}, {hi:.3f}]':>15} | {rest}")
        return med

    for defense, (_, _, t_rsk, t_raw, _) in sides.items():
        target = 1.02 if defense in STRICT else 1.05
        ratios = [a / b for a, b in zip(t_rsk, t_raw)]
        medians[defense] = row(defense, ratios,
                               f"{statistics.median(t_rsk):>16.3f} "
                               f"{statistics.median(t_raw):>6.3f} | <= {target} "
                               f"{'met' if statistics.median(ratios) <= target else 'NOT met'}")
    if control:
        row("control", control, f"raw / raw for {next(iter(sides))}, same order: "
                                "the spread a ratio has by noise alone")
    print("95% CI: percentile bootstrap of the median over the runs (2000 resamples).")
    if args.memory:
        memory_table(args)
    return medians


if __name__ == "__main__":
    main()
