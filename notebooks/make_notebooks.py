"""Write the tutorial notebooks of this folder (run: python notebooks/make_notebooks.py).

The notebooks are generated so that their text and code are reviewed as
Python source; tests/test_notebooks.py executes each one end to end.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
import warnings
import numpy as np
import pandas as pd
import matplotlib
import matplotlib.pyplot as plt
import torch

torch.set_num_threads(1)      # small models: one thread is fastest, and polite on shared machines
%matplotlib inline'''


def md(text):
    return new_markdown_cell(text.strip("\n"))


def code(text):
    return new_code_cell(text.strip("\n"))


NB01 = [
    md('''
# 1. A first adversarial defense, tuned with `GridSearchCV`, and its robustness curve

*For a statistician who has never trained a robust network.*

A classifier $f$ is **robust at radius $\\varepsilon$** on an example $(x, y)$ if every input $x'$
with $\\|x' - x\\|_\\infty \\le \\varepsilon$ is still classified as $y$. We cannot check every $x'$, so
we search for a bad one with an **attack** (here PGD: a few steps of gradient *ascent* on the loss,
each projected back into the $\\varepsilon$-box around $x$). **Robust accuracy** is the fraction of
test examples that are correct *and* survive the attack: an upper bound on the true robust accuracy,
since a stronger attack could only lower it.

A **defense** changes training so that robust accuracy rises. The simplest is *adversarial training*
(Madry et al., 2018): replace each training batch by its PGD examples. In robustsk every defense is a
scikit-learn estimator, so the usual tools (pipelines, cross-validation, grid search) apply.

Everything here runs on 8x8 digit images in a few seconds: the numbers illustrate the workflow,
not the state of the art.
'''),
    code(SETUP),
    md('''
## Data

`load_digits_images` gives scikit-learn's digits as images of shape `(n, 1, 8, 8)` with pixels in
[0, 1]. We keep a small training set and a test set that is never used for tuning.
'''),
    code('''
from sklearn.model_selection import train_test_split
from robustsk.datasets import load_digits_images

X, y = load_digits_images(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=600, test_size=200,
                                                    stratify=y, random_state=0)
X_train.shape, X_test.shape'''),
    md('''
## An undefended baseline

`StandardTraining` is ordinary training (cross-entropy on clean images). `eps` is the threat model the
estimator carries: `score_adversarial` attacks with it, and defenses train against it. `clip_min` and
`clip_max` say that valid images live in [0, 1] (attacks stay inside).
'''),
    code('''
from robustsk.defenses import StandardTraining, AdversarialTraining
from robustsk.attacks import PGD

common = dict(eps=0.1, clip_min=0.0, clip_max=1.0, random_state=0, lr=3e-3)
baseline = StandardTraining(max_epochs=10, **common).fit(X_train, y_train)
attack = PGD(eps=0.1, n_iter=10, random_state=0)
print(f"clean accuracy  {baseline.score(X_test, y_test):.3f}")
print(f"robust accuracy {baseline.score_adversarial(X_test, y_test, attack):.3f}  (PGD-10, eps=0.1)")'''),
    md('''
The clean accuracy is high, and the attack, which changes no pixel by more than 0.1, lowers it: compare
the two lines printed above. A defense tries to close that gap.

## Tuning a defense with `GridSearchCV`

We tune the training radius `eps` of adversarial training. The score is **robust** accuracy under a
fixed attack (`make_adversarial_scorer`), computed on the held-out fold, beside the clean accuracy.
`refit="robust"` picks the candidate with the best robust accuracy. (A real study would use more
folds, epochs and attack steps.)
'''),
    code('''
from sklearn.model_selection import GridSearchCV
from robustsk.metrics import make_adversarial_scorer

search = GridSearchCV(
    AdversarialTraining(max_epochs=6, n_iter=5, **common),
    param_grid={"eps": [0.05, 0.15]},
    scoring={"clean": "accuracy", "robust": make_adversarial_scorer(PGD(eps=0.1, n_iter=5, random_state=0))},
    refit="robust", cv=2)
search.fit(X_train, y_train)
pd.DataFrame(search.cv_results_)[["param_eps", "mean_test_clean", "mean_test_robust"]]'''),
    code('''
defended = search.best_estimator_
print("chosen eps:", search.best_params_["eps"])
print(f"clean accuracy  {defended.score(X_test, y_test):.3f}")
print(f"robust accuracy {defended.score_adversarial(X_test, y_test, attack):.3f}  (PGD-10, eps=0.1)")'''),
    md('''
## Per-example outcomes at several radii

For inference we keep **one row per example and radius**: did example $i$ survive the attack at
$\\varepsilon$? This *tidy* frame (`example_id`, `eps`, `attack`, `defense`, `correct`) is what every
function of `robustsk.stats` takes. An example misclassified without attack counts as not surviving.
'''),
    code('''
eps_grid = [0.0, 0.05, 0.1, 0.15, 0.2]

def outcomes(model, name):
    rows = []
    for eps in eps_grid:
        X_adv = X_test if eps == 0 else PGD(eps=eps, n_iter=10, random_state=0).generate(model, X_test, y_test)
        correct = model.predict(X_adv) == y_test
        rows.append(pd.DataFrame({"example_id": np.arange(len(y_test)), "eps": eps, "attack": "pgd",
                                  "defense": name, "correct": correct}))
    return pd.concat(rows, ignore_index=True)

frame = pd.concat([outcomes(baseline, "standard"), outcomes(defended, "adversarial")], ignore_index=True)
frame.groupby(["defense", "eps"])["correct"].mean().unstack("eps").round(3)'''),
    md('''
## A robustness curve

`robustness_curve` fits a logistic regression of survival on $\\varepsilon$, with one intercept and slope
per defense. The same test examples are measured at every radius and under both defenses, so their
outcomes are correlated: the standard errors are **cluster-robust by example** (a sandwich estimator).

**Separation.** The undefended model may survive no attack above some radius: then a threshold on
$\\varepsilon$ predicts survival perfectly, and the maximum-likelihood estimate does not exist (the
slope runs off to $-\\infty$). robustsk detects this exactly and raises `SeparationError` rather than
returning huge coefficients. Here is how to handle it: either report the separated defense by its
observed proportions (`on_separation="warn"`), or add radii where its outcomes overlap.
'''),
    code('''
from robustsk.stats import robustness_curve, SeparationError, SeparationWarning

# A model with no robustness at all: survival is separated by eps.
toy = pd.DataFrame({"example_id": np.tile(np.arange(50), 3), "eps": np.repeat([0.0, 0.1, 0.2], 50),
                    "attack": "pgd", "defense": "undefended",
                    "correct": np.repeat([True, False, False], 50)})
try:
    robustness_curve(toy)
except SeparationError as err:
    print("SeparationError:", err)
    print("separated defenses:", err.separated)'''),
    code('''
try:
    curve = robustness_curve(frame)
except SeparationError as err:
    print("separated:", err.separated, "-> reporting them by observed proportions")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)
        curve = robustness_curve(frame, on_separation="warn")
ax = curve.plot()
plt.show()
curve.coefficients.round(3)'''),
    md('''
**Reading the plot.** Dots are observed survival rates, lines the fitted logistic curves, shaded bands
95% pointwise intervals. The adversarially trained model gives up a little clean accuracy
($\\varepsilon = 0$) for a much slower decline with $\\varepsilon$. Remember the caveat: every point is an
*upper bound* on robustness, as good as the attack behind it. Notebook 2 compares defenses formally.
'''),
]

NB02 = [
    md('''
# 2. Comparing defenses: intervals and paired tests

Two defenses evaluated **on the same test examples** give paired binary outcomes: for example $i$,
did it survive under defense A, under defense B? The right tools are the ones for paired
proportions:

| question | tool |
| --- | --- |
| how precise is one robust accuracy? | `accuracy_interval` (Wilson / Clopper-Pearson) |
| do A and B differ? | `mcnemar` (only discordant examples carry information) |
| do $k$ defenses differ? | `cochran_q`, with pairwise McNemar tests adjusted (Holm) |
| how large is the difference? | `paired_bootstrap` (resample examples, keep pairs together) |

Each function returns a typed result and has an R twin (`backend="r"`).
'''),
    code(SETUP),
    code('''
from sklearn.model_selection import train_test_split
from robustsk.datasets import load_digits_images
from robustsk.defenses import StandardTraining, AdversarialTraining, TRADES
from robustsk.attacks import PGD

X, y = load_digits_images(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=600, test_size=300,
                                                    stratify=y, random_state=1)
common = dict(eps=0.1, clip_min=0.0, clip_max=1.0, random_state=0, lr=3e-3, max_epochs=6)
models = {
    "standard": StandardTraining(**common),
    "madry": AdversarialTraining(n_iter=5, **common),
    "trades": TRADES(n_iter=5, beta=3.0, **common),
}
attack = PGD(eps=0.1, n_iter=10, random_state=0)
correct = {}
for name, model in models.items():
    model.fit(X_train, y_train)
    correct[name] = model.predict(attack.generate(model, X_test, y_test)) == y_test
pd.DataFrame(correct).mean().round(3).rename("robust accuracy")'''),
    md('''
## One defense at a time: confidence intervals

With $n = 300$ test examples a robust accuracy is a binomial proportion; the Wilson interval behaves
well near 0 and 1 (Clopper-Pearson is the conservative alternative).
'''),
    code('''
from robustsk.stats import accuracy_interval

intervals = pd.DataFrame([
    {"defense": name, **{k: getattr(accuracy_interval(c), k) for k in ("estimate", "low", "high")}}
    for name, c in correct.items()])
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.errorbar(intervals["defense"], intervals["estimate"],
            yerr=[intervals["estimate"] - intervals["low"], intervals["high"] - intervals["estimate"]],
            fmt="o", capsize=4)
ax.set_ylabel("robust accuracy (PGD-10, eps=0.1)")
ax.set_title("95% Wilson intervals")
plt.tight_layout(); plt.show()
intervals.round(3)'''),
    md('''
## Two defenses: McNemar's test, and why an unpaired test misleads

Overlapping intervals do **not** mean "no difference": the intervals ignore that both defenses were
scored on the same examples. Many examples are easy (every defense survives) or hopeless (none does);
these concordant pairs say nothing about the difference. McNemar's test uses only the discordant
counts $b$ (A survives, B not) and $c$ (B survives, A not).

The common mistake is a two-sample test of proportions, as if the two accuracies came from different
examples. Its variance, $p_A(1-p_A)/n + p_B(1-p_B)/n$, misses the $-2\\,\\mathrm{cov}/n$ term of the paired
difference; with positively correlated outcomes it overstates the noise and loses power.
'''),
    code('''
from statsmodels.stats.proportion import proportions_ztest
from robustsk.stats import mcnemar, paired_bootstrap

a, b = correct["madry"], correct["trades"]
paired = mcnemar(a, b)
unpaired = proportions_ztest([a.sum(), b.sum()], [len(a), len(b)])
print(pd.crosstab(pd.Series(a, name="madry survives"), pd.Series(b, name="trades survives")))
print(f"difference in robust accuracy: {a.mean() - b.mean():+.3f}")
print(f"McNemar (exact, paired):       p = {paired.pvalue:.4f}  (b = {paired.b}, c = {paired.c})")
print(f"two-proportion z (unpaired):   p = {unpaired[1]:.4f}")
print(f"correlation of the outcomes:   {np.corrcoef(a, b)[0, 1]:.2f}")'''),
    md('''
The same contrast, against the undefended model, where the difference is large:
'''),
    code('''
s = correct["standard"]
print(f"McNemar p = {mcnemar(a, s).pvalue:.2e};  unpaired z-test p = {proportions_ztest([a.sum(), s.sum()], [len(a)] * 2)[1]:.2e}")'''),
    md('''
A simulation makes the point without depending on this particular data: two defenses with the same
true robust accuracy difference of 0.05 and strongly correlated outcomes (most examples are easy or
hard for both). Out of 400 simulated evaluations of 300 examples, how often does each test detect the
difference at the 5% level?
'''),
    code('''
rng = np.random.default_rng(0)
def simulate(n=300, p_easy=0.55, p_only_a=0.08, p_only_b=0.03):
    u = rng.random(n)
    a = u < p_easy + p_only_a
    b = (u < p_easy) | ((u >= p_easy + p_only_a) & (u < p_easy + p_only_a + p_only_b))
    return a, b
hits = {"McNemar (paired)": 0, "two-proportion z (unpaired)": 0}
for _ in range(400):
    sa, sb = simulate()
    hits["McNemar (paired)"] += mcnemar(sa, sb).pvalue < 0.05
    hits["two-proportion z (unpaired)"] += proportions_ztest([sa.sum(), sb.sum()], [300, 300])[1] < 0.05
power = pd.Series(hits) / 400
ax = power.plot.barh(figsize=(5, 2)); ax.set_xlabel("power at alpha = 0.05"); ax.set_xlim(0, 1)
plt.tight_layout(); plt.show()
power.round(3)'''),
    md('''
## Several defenses: Cochran's Q, then pairwise McNemar with Holm's adjustment
'''),
    code('''
from robustsk.stats import cochran_q

q = cochran_q(*correct.values(), names=list(correct))
print(f"Cochran's Q = {q.statistic:.2f} on {q.df} df, p = {q.pvalue:.2e}")
q.pairwise.round(4)'''),
    md('''
## How large is the difference? A paired bootstrap interval

Resampling **examples** (each carrying its pair of outcomes) gives an interval for
$p_A - p_B$ that respects the pairing.
'''),
    code('''
boot = paired_bootstrap(a, b, n_resamples=2000, random_state=0)
print(f"madry - trades: {boot.estimate:+.3f}, 95% interval [{boot.low:+.3f}, {boot.high:+.3f}]")
fig, ax = plt.subplots(figsize=(4.5, 3))
ax.hist(np.asarray(boot.distribution), bins=30, color="C0", alpha=0.7)
ax.axvline(0, color="k", lw=1); ax.axvline(boot.low, color="C3", ls="--"); ax.axvline(boot.high, color="C3", ls="--")
ax.set_xlabel("bootstrap difference in robust accuracy"); plt.tight_layout(); plt.show()'''),
]

NB03 = [
    md('''
# 3. The statisticians' review, re-run: an attacked L1 logistic regression in Python and R

Li, Cheng, Hsieh and Lee (*The American Statistician*, 2022) illustrate adversarial attacks with R:
an L1-regularised logistic regression on MNIST 0 vs 1 (labels $-1/+1$, pixels 0-255; LIBLINEAR,
cost 0.5, no intercept), attacked by PGD on the closed-form gradient of
$\\ell(x) = \\log(1 + e^{-y\\,w^\\top x})$, which is $\\nabla_x \\ell = -y\\,w / (1 + e^{y\\,w^\\top x})$.
PGD takes 40 signed steps of size 1 and projects into the box $\\|x' - x\\|_\\infty \\le 8$; only correctly
classified test points are attacked.

For a linear model the attack has a closed form: every signed step of size $s$ moves pixel $j$ by
$-s\\,y\\,\\mathrm{sign}(w_j)$ and lowers the margin $y\\,w^\\top x$ by $s\\,\\|w\\|_1$, until the projection
holds the point at the corner $x - \\varepsilon\\,y\\,\\mathrm{sign}(w)$ of the box. There the margin has dropped
by exactly $\\varepsilon\\,\\|w\\|_1$, so a point survives iff its margin exceeds $\\varepsilon \\|w\\|_1$, provided
the steps add up to at least $\\varepsilon$ (`n_iter * step_size >= eps`). The review's 40 steps of size 1
add up to 40: they reach the corner for $\\varepsilon \\le 40$ only, and at larger radii they stop short and
overstate robustness. Below we also attack with steps of size $\\varepsilon / 8$ (40 of them, at the corner
after 8; at $\\varepsilon = 8$ this is the review's attack), which reach the corner at every radius.

Offline we use scikit-learn's digits 0 vs 1 (pixels scaled to 0-255) instead of MNIST. The R side
(`r_compat/R/review.R`) and the Python side (`robustsk.review`) compute the same thing; here they
run side by side.
'''),
    code(SETUP),
    code('''
from robustsk.review import load_digits01, review_experiment, fit_l1_logistic, pgd_logistic, DIGITS01_CSV

data = load_digits01()
X_train, y_train, X_test, y_test = data
print(X_train.shape, X_test.shape, "pixel range", X_train.min(), X_train.max())'''),
    md('''
## The fit: LIBLINEAR as in the review, and a coordinate-descent solver shared with R

LIBLINEAR has no R package offline, so R fits the same objective
$\\|w\\|_1 + C \\sum_i \\log(1 + e^{-y_i w^\\top x_i})$ with a coordinate descent that Python also runs.
Run to convergence, LIBLINEAR agrees with it; at the review's tolerance (0.01, LIBLINEAR's relative
stopping rule) it stops early, with a denser $w$.

**Check the sign of $w$.** LIBLINEAR orders the classes by their first appearance in the training
labels; R's `LiblineaR` then returns a $W$ that may point to class $-1$. Attacking with such a $W$
pushes points *towards* their own class and reports robustness that is not there.
`review_experiment` checks $\\mathrm{sign}(Xw)$ against the model's decision values.
'''),
    code('''
fits = {
    "liblinear, tol=0.01 (review)": review_experiment(data, solver="liblinear", tol=0.01),
    "liblinear, tol=1e-6": review_experiment(data, solver="liblinear", tol=1e-6),
    "coordinate descent": review_experiment(data, solver="cd"),
}
pd.DataFrame({name: {"objective": r.objective, "non-zero weights": int(np.count_nonzero(r.w)),
                     "clean accuracy": r.clean_accuracy, "robust accuracy (eps 8)": r.robust.estimate}
              for name, r in fits.items()}).T'''),
    md('''
## The R results

Through rpy2 when R is available; otherwise from the CSV the R script
`r_compat/inst/extdata/make_review_output.R` committed.
'''),
    code('''
eps_grid = [8, 16, 24, 32, 48, 64]
try:
    from robustsk.stats import r_available
    have_r = r_available()
except Exception:
    have_r = False

if have_r:
    import rpy2.robjects as ro
    from robustsk.stats._rbackend import _load, _to_r
    env = _load()
    r_data = ro.r["list"](x_train=_to_r(X_train), y_train=_to_r(y_train), x_test=_to_r(X_test), y_test=_to_r(y_test))
    r_fit = ro.r["get"]("review_fit_l1_logistic", envir=env)(r_data.rx2("x_train"), r_data.rx2("y_train"))
    w_r = np.asarray(r_fit.rx2("w"))
    experiment = ro.r["get"]("review_experiment", envir=env)
    rows = []
    for eps in eps_grid:
        res = experiment(r_data, w=ro.FloatVector(w_r), eps=eps)
        rows.append({"eps": eps, "robust_accuracy": res.rx2("robust").rx2("estimate")[0]})
    r_results = pd.DataFrame(rows)
    source = "R via rpy2"
else:
    r_results = pd.read_csv(DIGITS01_CSV.parent / "review_r_output.csv")[["eps", "robust_accuracy"]]
    w_r = pd.read_csv(DIGITS01_CSV.parent / "review_r_weights.csv")["w"].to_numpy()
    source = "committed R output"
print(source)
w_py = fits["coordinate descent"].w
print("max |w_R - w_Python| =", np.max(np.abs(w_r - w_py)))'''),
    code('''
def reaching(w, eps):
    """Robust accuracy under PGD with 40 steps of eps / 8: at the corner of the box after 8 steps."""
    return review_experiment(data, w=w, eps=eps, step_size=eps / 8).robust.estimate

def exact(w, eps):
    """The closed form: a test point survives iff its margin exceeds eps * ||w||_1."""
    return np.mean(y_test * (X_test @ w) > eps * np.abs(w).sum())

w_lib = fits["liblinear, tol=0.01 (review)"].w
table = pd.DataFrame({"eps": eps_grid})
table["R, review's PGD (40 steps of 1)"] = r_results.set_index("eps").loc[eps_grid, "robust_accuracy"].to_numpy()
table["Python, same w and PGD"] = [review_experiment(data, w=w_r, eps=e).robust.estimate for e in eps_grid]
table["Python, steps of eps/8"] = [reaching(w_r, e) for e in eps_grid]
table["exact: margin > eps ||w||_1"] = [exact(w_r, e) for e in eps_grid]
table["LIBLINEAR tol=0.01, steps of eps/8"] = [reaching(w_lib, e) for e in eps_grid]
# same counts; the committed CSV keeps R's 15 significant digits
np.testing.assert_allclose(table["R, review's PGD (40 steps of 1)"], table["Python, same w and PGD"], rtol=0, atol=1e-12)
# an attack that reaches the corner is the closed form, at every radius and for both fits
np.testing.assert_array_equal(table["Python, steps of eps/8"], table["exact: margin > eps ||w||_1"])
np.testing.assert_array_equal(table["LIBLINEAR tol=0.01, steps of eps/8"], [exact(w_lib, e) for e in eps_grid])
fig, ax = plt.subplots(figsize=(5, 3.2))
for col, style, label in [("R, review's PGD (40 steps of 1)", "o--", "review's PGD (R = Python)"),
                          ("Python, steps of eps/8", "x-", "PGD, steps of eps/8 (= exact)"),
                          ("LIBLINEAR tol=0.01, steps of eps/8", "s-", "LIBLINEAR tol=0.01, steps of eps/8")]:
    ax.plot(table["eps"], table[col], style, label=label)
ax.axvline(40, color="grey", lw=0.8, ls=":")
ax.set_xlabel("eps (pixels, 0-255 scale)"); ax.set_ylabel("robust accuracy"); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()
table.round(4)'''),
    md('''
Given the same $w$ and the same attack, R and Python agree **exactly** (pixels are multiples of 1/16 and
the steps are whole numbers, so the arithmetic is exact). Up to $\\varepsilon = 40$ the review's attack and
the steps of $\\varepsilon / 8$ reach the same corner and give the same numbers; beyond the dotted line the
review's 40 steps of size 1 cannot reach the edge of the box, and its column keeps the accuracy of
$\\varepsilon = 40$, while the attack that reaches the corner matches the closed form. Read the table for the
size of these gaps. The review's eps = 8 barely moves these 8x8 digits: their 64 pixels give
$\\|w\\|_1$ little room, unlike MNIST's 784. The loosely converged LIBLINEAR fit (tol 0.01, last column) is
*less* robust than the optimum at every radius, and much less at the larger ones: an optimisation
setting, not the model class, decides the conclusion.

## What the attack does to one digit

The least confident test point, attacked at $\\varepsilon = 48$ with steps of $\\varepsilon / 8$: the attack ends at
the corner of the box, so its margin drops by $\\varepsilon \\|w\\|_1$ (the last line prints both, equal up to
rounding).
'''),
    code('''
w = fits["coordinate descent"].w
i = int(np.argmin(y_test * (X_test @ w)))  # the least confident test point
eps = 48
x_adv = pgd_logistic(w, X_test[i:i + 1], y_test[i:i + 1], eps=eps, step_size=eps / 8)[0]
fig, axes = plt.subplots(1, 3, figsize=(7, 2.5))
for ax, img, title in zip(axes, [X_test[i], x_adv, x_adv - X_test[i]],
                          ["original", f"PGD, eps={eps}", "perturbation"]):
    ax.imshow(img.reshape(8, 8), cmap="gray" if title != "perturbation" else "bwr"); ax.set_title(title); ax.axis("off")
plt.tight_layout(); plt.show()
before, after = float(y_test[i] * X_test[i] @ w), float(y_test[i] * x_adv @ w)
print(f"margin before {before:.3f}, after {after:.3f}: it dropped by {before - after:.3f}; "
      f"eps * ||w||_1 = {eps * np.abs(w).sum():.3f}")'''),
]

NB04 = [
    md('''
# 4. robustsk from R

The R package in `r_compat/` wraps robustsk through **reticulate**: an R user fits a defense on an R
matrix or data.frame, predicts, scores it under attack and gets an R data.frame back, with the R
twins of the statistics for the intervals. Python starts only when the first `rsk_*` function runs.

This notebook runs R from Python with rpy2's `%%R` cell magic. It needs R, the R package reticulate
and rpy2; the first cell says what is missing.

**One technical detail.** Inside this Jupyter kernel, R's reticulate would share the kernel's own
Python process, and with Debian's reticulate 1.28 a model fit called that way crashes the kernel
(the GIL is not held when reticulate calls back into Python). So the `rsk_*` calls below run in a
fresh R session started from R (`Rscript`), exactly as an R user would run them, and come back as R
data.frames; the statistics and the plots then run in the `%%R` cells.
'''),
    code('''
import importlib.util, os, shutil, sys
missing = [name for name, ok in [("R (Rscript)", shutil.which("Rscript")),
                                  ("rpy2", importlib.util.find_spec("rpy2"))] if not ok]
if missing:
    raise SystemExit("This notebook needs " + ", ".join(missing) +
                     ": apt-get install r-base-core r-cran-reticulate; pip install rpy2==3.5.17")
# The fresh R sessions use this Python, which must import robustsk.
os.environ.setdefault("ROBUSTSK_PYTHON", sys.executable)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.abspath(".."), os.environ.get("PYTHONPATH")]))
%load_ext rpy2.ipython'''),
    md('''
## Load the R package, and a helper that runs R code in a fresh session

From a source checkout we source `r_compat/R/*.R`; after `R CMD INSTALL r_compat` it is simply
`library(robustsk)`. `in_fresh_r()` runs a block of R code with the package loaded and returns the
value of its last expression.
'''),
    code('''
%%R
src <- normalizePath(file.path("..", "r_compat", "R"), mustWork = FALSE)
load_robustsk <- if (dir.exists(src)) {
  sprintf("for (f in sort(list.files('%s', pattern = '[.]R$', full.names = TRUE))) source(f)", src)
} else "library(robustsk)"
eval(parse(text = load_robustsk))
stopifnot(requireNamespace("reticulate", quietly = TRUE))

in_fresh_r <- function(code) {
  script <- tempfile(fileext = ".R"); out <- tempfile(fileext = ".rds")
  writeLines(c(load_robustsk, "rsk_set_threads(1)",
               sprintf("saveRDS(local({ %s }), '%s')", code, out)), script)
  log <- suppressWarnings(system2("Rscript", script, stdout = TRUE, stderr = TRUE))
  if (!file.exists(out)) stop(paste(utils::tail(log, 15), collapse = "\\n"))
  readRDS(out)
}
cat("Python side available:", in_fresh_r("rsk_python_available()"), "\\n")'''),
    md('''
## Data, fit, predict, and robust accuracy with its interval

`rsk_load_digits()` returns a data.frame: 64 pixel columns (row-major 8x8 images, values in [0, 1])
and the label. `image_shape = c(1, 8, 8)` tells robustsk that each row is one image (a small CNN is
used); without it the columns are plain features (an MLP). Estimator parameters go in `...`.

`rsk_score_adversarial` attacks at each radius and summarises with `accuracy_interval` (Wilson by
default). `per_example = TRUE` returns the tidy per-example frame instead, ready for `mcnemar_test`,
`paired_bootstrap` or `robustness_curve`. We fit TRADES and an undefended model on the same data.
'''),
    code('''
%%R
results <- in_fresh_r(\'
  d <- rsk_load_digits()
  set.seed(1)
  idx <- sample(nrow(d)); train <- idx[1:500]; test <- idx[501:700]
  fit <- function(defense) rsk_fit(defense, d[train, 1:64], d$label[train], image_shape = c(1, 8, 8),
                                  max_epochs = 4, eps = 0.1, clip_min = 0, clip_max = 1,
                                  random_state = 0, lr = 3e-3)
  trades <- fit("TRADES"); plain <- fit("StandardTraining")
  list(model = capture.output(print(trades)),
       clean = mean(rsk_predict(trades, d[test, 1:64]) == d$label[test]),
       summary = rsk_score_adversarial(trades, d[test, 1:64], d$label[test], attack = "pgd",
                                       eps = c(0.025, 0.05, 0.1, 0.15), n_iter = 10, random_state = 0),
       trades = rsk_score_adversarial(trades, d[test, 1:64], d$label[test], attack = "pgd",
                                      eps = 0.1, n_iter = 10, random_state = 0,
                                      per_example = TRUE),
       plain = rsk_score_adversarial(plain, d[test, 1:64], d$label[test], attack = "pgd",
                                     eps = 0.1, n_iter = 10, random_state = 0,
                                     per_example = TRUE))
\')
cat(results$model, sep = "\\n")
cat("clean accuracy:", results$clean, "\\n")
res <- results$summary
print(res, digits = 3)'''),
    code('''
%%R -w 480 -h 320
plot(res$eps, res$robust_accuracy, ylim = c(0, 1), pch = 19, xlab = "eps",
     ylab = "robust accuracy (PGD-10)", main = "TRADES fitted from R, 95% Wilson intervals")
arrows(res$eps, res$low, res$eps, res$high, angle = 90, code = 3, length = 0.05)'''),
    md('''
## Paired comparison in R

The undefended model was scored on the same test examples, so the outcomes are paired: McNemar's
test uses the examples on which the two models disagree.
'''),
    code('''
%%R
a <- results$trades; b <- results$plain
print(table(TRADES = a$correct, standard = b$correct))
print(mcnemar_test(a$correct, b$correct))'''),
]


NB05 = [
    md('''
# 5. Choosing a defense: which one, and how sure are we?

`GridSearchCV` returns the defense with the highest mean robust score. A statistician wants more:
are the others *really* worse, or just unlucky on these folds? Is the winner worth its training
time? Would a bigger test set change the answer? This notebook answers those questions on a small
grid over four defenses, with `robustsk.stats`:

| question | Python (`robustsk.stats`) | R twin (`r_compat`) |
| --- | --- | --- |
| do the candidates differ across CV folds? | `compare_cv_results` | `compare_cv_scores` |
| which one to pick, allowing a margin? | `select_within_margin` (a `refit`) | `select_within_margin` |
| do they differ on the test set? | `compare_defenses` | `paired_comparison` |
| is the test set big enough? | `mcnemar_power`, `mcnemar_sample_size` | `mcnemar_power`, `mcnemar_sample_size` |
| is robustness equal across classes? | `per_class_accuracy` | `per_class_accuracy` |
| where along eps do curves differ? | `robustness_curve(band="simultaneous")` | `robustness_curve(band = "simultaneous")` |

Every number is explained in words next to it, and recomputed by its R twin when R is available
(`backend="r"`, through rpy2). Everything is tiny (2 epochs on 8x8 digits), so the *workflow* is
the point, not the accuracies.
'''),
    code(SETUP),
    code('''
from robustsk.stats import r_available
have_r = r_available()   # the R twins through rpy2; without R the Python numbers stand alone
print("R twins available:", have_r)'''),
    md('''
## A grid over four defenses

One `Pipeline` step whose value is the defense: standard (undefended) training, Madry's adversarial
training, TRADES and fast adversarial training. The score is robust accuracy under PGD at
$\\varepsilon = 0.1$. The CV is 3-fold repeated twice: 6 splits, every candidate on the **same**
splits, which is what lets us compare them split by split.
'''),
    code('''
from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from robustsk.datasets import load_digits_images
from robustsk.defenses import StandardTraining, AdversarialTraining, TRADES, FastAdversarialTraining
from robustsk.attacks import PGD
from robustsk.metrics import make_adversarial_scorer
from robustsk.stats import select_within_margin, explain_selection

X, y = load_digits_images(return_X_y=True)
X_pool, X_test, y_pool, y_test = train_test_split(X, y, train_size=300, test_size=300, stratify=y,
                                                  random_state=0)
common = dict(eps=0.1, clip_min=0.0, clip_max=1.0, random_state=0, lr=1e-2, max_epochs=2)
defenses = {"standard": StandardTraining(**common), "madry": AdversarialTraining(n_iter=3, **common),
            "trades": TRADES(n_iter=3, **common), "fast": FastAdversarialTraining(**common)}
names = [name for name in defenses]                 # the candidates, in cv_results_ order
cv = RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=0)
train, test = next(cv.split(X_pool, y_pool))
n_train, n_test = len(train), len(test)             # the corrected t-test needs the fold sizes

pick = select_within_margin("robust", margin=0.02, prefer="fit_time", n_train=n_train, n_test=n_test)
search = GridSearchCV(Pipeline([("clf", defenses["standard"])]), {"clf": list(defenses.values())},
                      scoring={"clean": "accuracy",
                               "robust": make_adversarial_scorer(PGD(eps=0.1, n_iter=5, random_state=0))},
                      cv=cv, refit=pick)
search.fit(X_pool, y_pool)
pd.DataFrame({"defense": names, "mean robust": search.cv_results_["mean_test_robust"],
              "mean clean": search.cv_results_["mean_test_clean"],
              "fit time [s]": search.cv_results_["mean_fit_time"]}).round(3)'''),
    md('''
## 1. Are the differences across folds real? The corrected resampled t-test

For each pair of defenses we take the difference of their robust scores on each of the $J = 6$
splits. A plain paired t-test would divide the variance of these differences by $J$; but the
training sets of different splits overlap, so the differences are positively correlated and that
test finds "significant" differences far too often. Nadeau and Bengio's correction uses
$(1/J + n_{test}/n_{train})\\,s^2$ instead. The p-values of all six pairs are then Holm-adjusted.

The Bayesian columns read the same numbers as a posterior for the mean difference (a Student t,
Benavoli et al. 2017): **p_better** is the probability that the first defense is better by more than
the *region of practical equivalence* (`rope`, here 0.02: two points of accuracy), **p_rope** that
the two are practically equivalent, **p_worse** that the first is worse by more than that.
'''),
    code('''
from robustsk.stats import compare_cv_results

cmp = compare_cv_results(search.cv_results_, "robust", n_train=n_train, n_test=n_test, rope=0.02, names=names)
cmp.pairwise[["candidate_a", "candidate_b", "difference", "low", "high", "pvalue", "pvalue_adjusted",
              "p_better", "p_rope", "p_worse"]].round(3)'''),
    code('''
row = cmp.pairwise.iloc[0]
print(f"{row.candidate_a} vs {row.candidate_b}: on average {row.difference:+.3f} robust accuracy per split;"
      f" 95% interval [{row.low:+.3f}, {row.high:+.3f}].")
print(f"Holm-adjusted p = {row.pvalue_adjusted:.3f}: "
      + ("a real difference." if row.reject else "no evidence of a difference at the 5% level."))
print(f"P({row.candidate_a} better by > 0.02) = {row.p_better:.2f}, P(equivalent) = {row.p_rope:.2f}, "
      f"P(worse by > 0.02) = {row.p_worse:.2f}")
naive = compare_cv_results(search.cv_results_, "robust", correction="none", names=names)
print(f"The naive (uncorrected) test would give p = {naive.pairwise.iloc[0].pvalue:.3f} "
      f"instead of {row.pvalue:.3f}: it ignores the overlap of the training sets.")'''),
    md('''
**R twin.** In R, `compare_cv_scores(scores, n_train = ..., n_test = ..., rope = 0.02)` takes the
splits x candidates matrix of scores (here `cmp.scores`). Through rpy2 it gives the same table:
'''),
    code('''
if have_r:
    r_cmp = compare_cv_results(search.cv_results_, "robust", n_train=n_train, n_test=n_test, rope=0.02,
                               names=names, backend="r")
    gap = (cmp.pairwise.select_dtypes("number") - r_cmp.pairwise.select_dtypes("number")).abs().max().max()
    print(f"largest |python - R| over the table: {gap:.1e}")'''),
    md('''
## 2. Which defense to pick: the cheapest one not significantly worse than the best

`select_within_margin("robust", margin=0.02, prefer="fit_time")` was the search's `refit`. It
found the defense with the best mean robust score, then tested every other one against it: "is it
worse by **more than 0.02**?" (one-sided corrected t-test). Those for which the data give no such
evidence are *eligible*, and the one with the smallest mean fit time among them is refitted. The
evidence stays with the search:
'''),
    code('''
sel = explain_selection(search)
chosen = names[sel.index]
print(sel.reason)
sel.table.round(4)'''),
    md('''
`shortfall` is how far below the best each mean is; `pvalue` tests "shortfall > margin" (small:
clearly worse than the margin allows). `one_standard_error_rule` is the classical alternative
(eligible: within one standard error of the best mean). The R twin takes the score matrix and the
costs: `select_within_margin(scores, cost, margin = 0.02, n_train = , n_test = )`.

## 3. The test set: several fitted defenses, one attack, paired by example

CV scores guide the choice; the final statement comes from the untouched test set. Each defense is
fitted on the whole pool and attacked with PGD-10. `compare_defenses` records, for every test
image, whether it survives under each defense, then runs Cochran's Q (do the four differ at all?),
exact McNemar tests for every pair (Holm-adjusted) and Newcombe's interval for each difference in
robust accuracy, in **one** tidy frame.
'''),
    code('''
from sklearn.base import clone
from robustsk.stats import compare_defenses

fitted = {name: clone(d).fit(X_pool, y_pool) for name, d in defenses.items()}
attack = PGD(eps=0.1, n_iter=10, random_state=0)
test_cmp = compare_defenses(fitted, X_test, y_test, attack)
print(f"Cochran's Q = {test_cmp.cochran.statistic:.1f} on {test_cmp.cochran.df} df, p = {test_cmp.cochran.pvalue:.2g}")
test_cmp.table.round(3)'''),
    md('''
Reading a row: `difference` is the robust accuracy of `defense_a` minus that of `defense_b` on the
same 300 images, `low`-`high` its 95% Newcombe interval; `b` counts images only `defense_a`
survives, `c` those only `defense_b` survives (McNemar uses only these); `pvalue_adjusted` is
Holm-adjusted over the six pairs. R twin: `paired_comparison(correct)` on the same 0/1 matrix:
'''),
    code('''
if have_r:
    from robustsk.stats import compare_paired
    r_table = compare_paired(test_cmp.correct, backend="r").table
    gap = (test_cmp.table[["low", "high", "pvalue_adjusted"]] - r_table[["low", "high", "pvalue_adjusted"]]).abs()
    print(f"largest |python - R|: {gap.max().max():.1e}")'''),
    md('''
## 4. Is the test set big enough?

Take the two best defenses on the test set. How likely is McNemar's test, on these 300 images, to
detect a true difference of 0.03, given how often the two disagree (the *discordance*, estimated by
$(b + c)/n$)? And how many images would give 80% power? The power is exact: it sums over the
binomial distribution of the discordant pairs, with no normal approximation.
'''),
    code('''
from robustsk.stats import mcnemar_power, mcnemar_sample_size

top = test_cmp.accuracy.sort_values("accuracy", ascending=False)["defense"].iloc[:2].tolist()
pair = test_cmp.table[test_cmp.table.defense_a.isin(top) & test_cmp.table.defense_b.isin(top)].iloc[0]
discordance = max((pair.b + pair.c) / len(y_test), 0.04)
now = mcnemar_power(len(y_test), difference=0.03, discordance=discordance)
need = mcnemar_sample_size(difference=0.03, discordance=discordance, power=0.8)
print(f"{top[0]} and {top[1]} disagree on {discordance:.1%} of the test images.")
print(f"Power to detect 0.03 with {now.n} images: {now.power:.2f}; 80% power needs {need.n} images "
      f"(Connor's normal approximation: {need.n_approximate}).")
if have_r:
    print(f"R twin mcnemar_power: {mcnemar_power(len(y_test), 0.03, discordance, backend='r').power:.10f}"
          f" (python {now.power:.10f})")'''),
    md('''
## 5. Is robustness equal across classes?

A defense can be robust on average and fragile on some digits. `per_class_accuracy` gives each
class's robust accuracy with its Wilson interval, and a chi-squared test that all classes are equal
(R: `prop.test(x, n, correct = FALSE)`); with about 30 test images per class the approximation
warning is expected, and silenced here.
'''),
    code('''
from robustsk.stats import per_class_accuracy

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    pc = per_class_accuracy(test_cmp.correct[chosen], y_test)
print(f"{chosen}: chi-squared = {pc.statistic:.1f} on {pc.df} df, p = {pc.pvalue:.2g}")
pc.table.round(3).T'''),
    md('''
## 6. Where along eps do the curves differ? Simultaneous bands

`robustness_curve` fits a logistic curve of survival against $\\varepsilon$. A pointwise 95% band
covers the truth at *one* eps at a time; reading the whole curve ("where does it cross 50%?")
needs a band that covers every eps at once. `band="simultaneous"` gives the Working-Hotelling band:
the multiplier $z_{0.975} = 1.96$ becomes $\\sqrt{\\chi^2_{p,0.95}}$, with $p$ the number of fitted
coefficients (R: `robustness_curve(data, band = "simultaneous")`).
'''),
    code('''
from robustsk.stats import robustness_curve

rows = []
for name in dict.fromkeys([chosen, "standard"]):
    model = fitted[name]
    for eps in [0.0, 0.05, 0.1, 0.15, 0.2]:
        X_adv = X_test if eps == 0 else PGD(eps=eps, n_iter=5, random_state=0).generate(model, X_test, y_test)
        rows.append(pd.DataFrame({"example_id": np.arange(len(y_test)), "eps": eps, "attack": "pgd",
                                  "defense": name, "correct": model.predict(X_adv) == y_test}))
frame = pd.concat(rows, ignore_index=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    curve = robustness_curve(frame, band="simultaneous", on_separation="warn")
print(f"critical value {curve.critical_value:.2f} (pointwise: 1.96)")
ax = curve.plot(); plt.show()'''),
    md('''
**In one sentence each.** The corrected t-test says whether CV differences exceed the fold-to-fold
noise; the posterior probabilities say how likely each defense is better, equivalent or worse by a
practical margin; the selection picks the cheapest defense the data cannot tell apart from the
best; the paired test-set table states the final differences with intervals; the power calculation
says whether the test set could have seen a difference that matters; the per-class test looks for
classes left behind; and the simultaneous band lets you read the whole curve at once. `robustsk
report` prints the same kind of selection for its defenses.
'''),
]


def write(name, cells):
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(nb)
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    for name, cells in [("01_first_defense.ipynb", NB01), ("02_comparing_defenses.ipynb", NB02),
                        ("03_review_experiment.ipynb", NB03), ("04_robustsk_from_R.ipynb", NB04),
                        ("05_choosing_a_defense.ipynb", NB05)]:
        write(name, cells)
        print("wrote", HERE / name)
