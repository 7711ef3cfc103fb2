"""Logistic robustness curves: survival probability against eps, with bands."""

from __future__ import annotations

from dataclasses import dataclass, field
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
import statsmodels.api as sm

from ._frame import check_tidy_frame
from ._validation import check_alpha, check_backend, check_choice

__all__ = ["RobustnessCurve", "SeparationError", "SeparationWarning", "robustness_curve"]

_COV_TYPES = ("cluster", "nonrobust")
_ON_SEPARATION = ("raise", "warn")
_BANDS = ("pointwise", "simultaneous")
N_GRID = 50


class SeparationError(ValueError):
    """Survival is perfectly predicted by eps for some defense: no finite MLE.

    Attributes
    ----------
    separated : tuple of str
        The defenses whose outcomes are (completely or quasi-completely)
        separated.
    """

    def __init__(self, message, separated=()):
        super().__init__(message)
        self.separated = tuple(separated)


class SeparationWarning(UserWarning):
    """Some defenses were separated and are reported without a fitted curve.

    Cause: for those defenses the eps ranges of survivors and failures do not
    overlap (every example survives below some eps and fails above it), so the
    logistic fit has no finite maximum likelihood estimate. Fix: evaluate more
    examples or eps values inside the transition, drop those defenses, or keep
    ``on_separation="warn"`` and read their observed proportions.
    """


@dataclass(frozen=True)
class RobustnessCurve:
    """Result of :func:`robustness_curve`.

    Attributes
    ----------
    curve : DataFrame
        Columns ``defense``, ``eps``, ``fitted`` (probability of surviving
        the attack), ``low``, ``high`` (``1 - alpha`` band, pointwise or
        simultaneous, see ``band``), one
        row per defense and grid point. For a separated defense ``fitted``
        is the observed proportion at observed eps (NaN elsewhere) and the
        band is NaN.
    observed : DataFrame
        Columns ``defense``, ``eps``, ``n``, ``successes``, ``proportion``.
    coefficients : Series
        Logit-scale coefficients: ``intercept``, ``eps`` (reference defense,
        first in sorted order) and for each other defense ``d``
        ``defense[T.d]`` and ``eps:defense[T.d]`` (treatment coding).
    cov : DataFrame
        Covariance of the coefficients (cluster-robust or model-based).
    alpha : float
        Error rate of the bands.
    cov_type : str
        ``"cluster"`` (by ``example_id``) or ``"nonrobust"``.
    n_examples : int
        Number of distinct ``example_id`` (clusters).
    n_obs : int
        Number of rows used.
    separation : bool
        Whether some defense was separated.
    separated : tuple of str
        The separated defenses.
    converged : bool
        Whether the IRLS fit converged.
    method : str
        Description of the model and standard errors.
    band : str
        ``"pointwise"`` or ``"simultaneous"`` (Working-Hotelling).
    critical_value : float
        The multiplier of the standard error on the logit scale:
        ``z_{1-alpha/2}`` (pointwise) or ``sqrt(chi2_{p, 1-alpha})`` with
        ``p`` fitted coefficients (simultaneous).
    """

    curve: pd.DataFrame = field(compare=False)
    observed: pd.DataFrame = field(compare=False)
    coefficients: pd.Series = field(compare=False)
    cov: pd.DataFrame = field(compare=False)
    alpha: float
    cov_type: str
    n_examples: int
    n_obs: int
    separation: bool
    separated: tuple
    converged: bool
    method: str
    band: str = "pointwise"
    critical_value: float = float("nan")

    def plot(self, ax=None):
        """Plot the fitted curves, their bands and the observed proportions.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is made if None. Works with the
            non-interactive Agg backend.

        Returns
        -------
        matplotlib Axes
        """
        new_figure = ax is None
        if new_figure:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(5, 3.5))
        for i, (defense, part) in enumerate(self.curve.groupby("defense", sort=False)):
            color = f"C{i}"
            ax.plot(part["eps"], part["fitted"], color=color, label=str(defense))
            ax.fill_between(part["eps"], part["low"], part["high"], color=color, alpha=0.2, linewidth=0)
            obs = self.observed[self.observed["defense"] == defense]
            ax.scatter(obs["eps"], obs["proportion"], color=color, s=12)
        ax.set_xlabel("eps")
        ax.set_ylabel("P(correct under attack)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"Robustness curve ({100 * (1 - self.alpha):g}% {self.band} bands)")
        ax.legend(title="defense")
        if new_figure:
            ax.figure.tight_layout()
        return ax


def separated_1d(eps, y):
    """Exact test of (quasi-)complete separation for ``y ~ 1 + eps``.

    Some ``(a, b) != 0`` has ``a + b * eps >= 0`` for every survivor and
    ``<= 0`` for every failure exactly when all outcomes are equal or the
    survivors' and failures' eps ranges do not overlap (they may touch).
    """
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return True
    e1, e0 = eps[y], eps[~y]
    return bool(e1.max() <= e0.min() or e0.max() <= e1.min())


def _design(eps, defense, levels):
    cols = {"intercept": np.ones(len(eps)), "eps": np.asarray(eps, dtype=float)}
    for lev in levels[1:]:
        d = (np.asarray(defense) == lev).astype(float)
        cols[f"defense[T.{lev}]"] = d
        cols[f"eps:defense[T.{lev}]"] = d * cols["eps"]
    return pd.DataFrame(cols)


def _check_every_attack(data):
    """Refuse a worst case over attacks some examples lack (they would count as surviving)."""
    keys = ["eps", "defense"]
    per_example = data.groupby([*keys, "example_id"], sort=False)["attack"].nunique()
    per_cell = data.groupby(keys, sort=False)["attack"].nunique()
    expected = per_cell.reindex(per_example.index.droplevel("example_id")).to_numpy()
    short = per_example.to_numpy() < expected
    if short.any():
        eps, defense, example = per_example.index[int(np.argmax(short))]
        example = example.item() if isinstance(example, np.generic) else example
        cell = data[(data["eps"] == eps) & (data["defense"] == defense)]
        have = set(cell.loc[cell["example_id"] == example, "attack"].astype(str))
        lacking = sorted(set(cell["attack"].astype(str)) - have)
        raise ValueError(
            f"attack='worst-case' needs every attack on every example, but {int(short.sum())} "
            f"(example_id, eps, defense) lack some: example_id {example!r} at eps={eps} "
            f"(defense {defense!r}) has no row for {lacking}. An example missing an attack "
            "would count as surviving it: add those rows, or drop the incomplete examples.")


def _prepare(frame, attack):
    data = check_tidy_frame(frame)
    if "defense" not in data.columns:
        data["defense"] = "all"
    data["defense"] = data["defense"].astype(str)
    data["eps"] = pd.to_numeric(data["eps"], errors="raise").astype(float)
    attacks = sorted(data["attack"].astype(str).unique())
    if attack is None:
        if len(attacks) > 1:
            raise ValueError(
                f"the frame holds {len(attacks)} attacks {attacks}; pass attack= one of "
                f"them, or attack='worst-case' (an example survives at eps if it survives every attack)."
            )
    elif attack == "worst-case":
        _check_every_attack(data)
        data = data.groupby(["example_id", "eps", "defense"], as_index=False, sort=True)["correct"].all()
    else:
        if str(attack) not in attacks:
            raise ValueError(f"attack={attack!r} is not in the frame; available: {attacks}.")
        data = data[data["attack"].astype(str) == str(attack)]
    if data.duplicated(["example_id", "eps", "defense"]).any():
        raise ValueError(
            "the frame has more than one row for some (example_id, eps, defense); expected one "
            "outcome per example, eps and defense."
        )
    return data.reset_index(drop=True)


def _observed(data, levels):
    obs = data.groupby(["defense", "eps"], sort=False)["correct"].agg(n="size", successes="sum").reset_index()
    obs["n"] = obs["n"].astype(int)
    obs["successes"] = obs["successes"].astype(int)
    obs["proportion"] = obs["successes"] / obs["n"]
    obs["_order"] = obs["defense"].map({lev: i for i, lev in enumerate(levels)})
    return obs.sort_values(["_order", "eps"]).drop(columns="_order").reset_index(drop=True)


def _fit_python(data, fit_levels, cov_type):
    d = data[data["defense"].isin(fit_levels)]
    x = _design(d["eps"].to_numpy(), d["defense"].to_numpy(), fit_levels)
    y = d["correct"].to_numpy().astype(float)
    fit_kw = {"tol": 1e-12, "maxiter": 100}
    if cov_type == "cluster":
        groups = pd.factorize(d["example_id"])[0]
        fit_kw.update(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": True})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = sm.GLM(y, x, family=sm.families.Binomial()).fit(**fit_kw)
    for w in caught:
        if "separation" in str(w.message).lower():
            # Backstop only: separation is checked exactly before fitting.
            raise SeparationError("statsmodels reports perfect separation in the logistic fit.", fit_levels)
        warnings.warn(w.message, w.category, stacklevel=3)
    converged = bool(res.converged) if hasattr(res, "converged") else True
    coef = pd.Series(np.asarray(res.params), index=x.columns)
    if cov_type == "cluster":
        cov = np.asarray(res.cov_params())
    else:
        # statsmodels' IRLS reports the inverse information at the previous iterate's
        # weights; take it at the estimate, as the R twin does (agreement ~1e-12)
        xm = x.to_numpy(dtype=float)
        mu = 1.0 / (1.0 + np.exp(-(xm @ coef.to_numpy())))
        cov = np.linalg.inv(xm.T @ (xm * (mu * (1.0 - mu))[:, None]))
    cov = pd.DataFrame(cov, index=x.columns, columns=x.columns)
    return coef, cov, converged, None


def _fit_r(data, fit_levels, cov_type, alpha, grid, band):
    from ._rbackend import r_call

    d = data[data["defense"].isin(fit_levels)]
    frame = pd.DataFrame({
        "example_id": d["example_id"].astype(str).to_numpy(), "eps": d["eps"].to_numpy(),
        "attack": "a", "correct": d["correct"].to_numpy().astype(bool),
        "defense": d["defense"].to_numpy(),
    })
    res = r_call("robustness_curve", frame, alpha=alpha, grid=np.asarray(grid, dtype=float),
                 cov_type=cov_type, on_separation="raise", levels=np.array(fit_levels, dtype=object),
                 band=band)
    names = _design(np.zeros(1), np.array([fit_levels[0]]), fit_levels).columns
    coef = pd.Series(np.atleast_1d(res["coefficients"]), index=names)
    cov = pd.DataFrame(np.asarray(res["cov"]).reshape(len(names), len(names)), index=names, columns=names)
    curve = res["curve"]
    curve["defense"] = curve["defense"].astype(str)
    return coef, cov, bool(res["converged"]), curve


def robustness_curve(frame, *, alpha=0.05, grid=None, cov_type="cluster", on_separation="raise",
                     attack=None, band="pointwise", backend="python"):
    """Fit a logistic robustness curve: P(correct under attack) against eps.

    The model is a binomial GLM with logit link of per-example survival
    (``correct``) on ``eps``; when the frame has a ``defense`` column with
    more than one level, each defense gets its own intercept and slope
    (``correct ~ defense * eps``, treatment coding, first level in sorted
    order as reference).

    Parameters
    ----------
    frame : DataFrame
        Tidy frame with columns ``example_id``, ``eps``, ``attack``,
        ``correct`` and optionally ``defense``; one row per example, eps
        (and defense). Each defense needs at least two eps values.
    alpha : float, default=0.05
        Error rate of the bands.
    grid : array-like of float, optional
        eps values at which the curve is reported. Default: 50 evenly
        spaced points from the smallest to the largest eps, plus the
        observed eps.
    cov_type : {"cluster", "nonrobust"}, default="cluster"
        ``"cluster"``: each example is measured at every eps (and under
        every defense), so its outcomes are correlated; the covariance is
        cluster-robust by ``example_id`` (statsmodels ``cov_type="cluster"``
        with ``use_correction=True``; R ``sandwich::vcovCL(type="HC1",
        cadjust=TRUE)``), i.e. the sandwich scaled by
        ``G/(G-1) * (N-1)/(N-K)``. ``"nonrobust"``: model-based (inverse
        Fisher information), valid only for independent rows.
    on_separation : {"raise", "warn"}, default="raise"
        Separation (common: an undefended model survives no attack above a
        small eps, so some threshold on eps predicts survival perfectly) is
        detected exactly, per defense, before fitting: in a model with one
        intercept and slope per defense, the maximum likelihood estimate
        exists if and only if, for every defense, the eps ranges of
        survivors and failures overlap. ``"raise"``: raise
        :class:`SeparationError` naming the defenses. ``"warn"``: emit a
        :class:`SeparationWarning`, fit the other defenses only, and report
        the separated ones by their observed proportions with NaN bands.
        Huge coefficients are never returned silently.
    attack : str, optional
        Which attack to use when the frame has several; ``"worst-case"``
        counts an example as surviving at eps only if it survives every
        attack there.
    band : {"pointwise", "simultaneous"}, default="pointwise"
        ``"pointwise"``: each eps has its own ``1 - alpha`` Wald interval.
        ``"simultaneous"``: a Working-Hotelling (Scheffe) band that covers
        every fitted curve at every eps at once with asymptotic probability
        ``1 - alpha``: the logit-scale multiplier ``z`` is replaced by
        ``sqrt(chi2_{p, 1-alpha})``, ``p`` the number of fitted
        coefficients (2 per defense), because the linear predictors of all
        curves span a ``p``-dimensional space. Use it to read the whole
        curve (e.g. "where does defense A fall below 50%?") without
        multiplicity error; it is wider than the pointwise band.
    backend : {"python", "r"}, default="python"
        ``"r"``: fit with ``glm`` and ``sandwich::vcovCL`` in R.

    Returns
    -------
    RobustnessCurve

    Raises
    ------
    SeparationError
        With ``on_separation="raise"``, if some defense is separated.

    Notes
    -----
    Bands are Wald intervals on the logit scale, ``eta +/- c * se(eta)``
    (``c`` is ``critical_value``), mapped through the logistic function, so
    they stay within (0, 1).
    The IRLS tolerance is tightened to 1e-12 in both backends so that they
    agree to about 1e-8.

    References
    ----------
    .. [1] Albert, A. and Anderson, J. A. (1984). On the existence of maximum
       likelihood estimates in logistic regression models. Biometrika 71.
    .. [2] Cameron, A. C. and Miller, D. L. (2015). A practitioner's guide to
       cluster-robust inference. J. Human Resources 50(2), 317-372.
    .. [3] Zeileis, A., Koell, S. and Graham, N. (2020). Various versatile
       variances: an object-oriented implementation of clustered
       covariances in R. J. Stat. Softw. 95(1).
    .. [4] Working, H. and Hotelling, H. (1929). Applications of the theory
       of error to the interpretation of trends. JASA 24, 73-85.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from robustsk.stats import robustness_curve
    >>> rng = np.random.default_rng(0)
    >>> eps = np.repeat([0.0, 0.1, 0.2, 0.3], 50)
    >>> frame = pd.DataFrame({"example_id": np.tile(np.arange(50), 4), "eps": eps,
    ...                       "attack": "pgd", "correct": rng.random(200) < 0.9 - 2 * eps})
    >>> res = robustness_curve(frame, grid=[0.0, 0.3])
    >>> res.curve[["eps", "fitted"]].round(2).to_numpy().tolist()
    [[0.0, 0.84], [0.3, 0.24]]
    """
    backend = check_backend(backend)
    alpha = check_alpha(alpha)
    cov_type = check_choice(cov_type, _COV_TYPES, "cov_type")
    on_separation = check_choice(on_separation, _ON_SEPARATION, "on_separation")
    band = check_choice(band, _BANDS, "band")
    data = _prepare(frame, attack)
    levels = sorted(data["defense"].unique())
    separated = []
    for lev in levels:
        part = data[data["defense"] == lev]
        n_eps = part["eps"].nunique()
        if n_eps < 2:
            raise ValueError(
                f"defense {lev!r} is measured at {n_eps} eps value(s); a curve needs at least two. "
                f"Add eps values or drop that defense."
            )
        if separated_1d(part["eps"].to_numpy(), part["correct"].to_numpy()):
            separated.append(lev)
    if separated:
        msg = (
            f"separation: the survival of defense(s) {separated} is perfectly predicted by eps "
            f"(all equal, or no overlap between the eps of survivors and of failures), so the "
            f"logistic fit has no finite maximum likelihood estimate."
        )
        if on_separation == "raise":
            raise SeparationError(
                msg + " Drop them, narrow the eps range, or pass on_separation='warn'.", separated
            )
        warnings.warn(msg + " They are reported with observed proportions only.", SeparationWarning,
                      stacklevel=2)
    observed = _observed(data, levels)
    if grid is None:
        e = data["eps"].to_numpy()
        grid = np.unique(np.concatenate([np.linspace(e.min(), e.max(), N_GRID), e]))
    grid = np.atleast_1d(np.asarray(grid, dtype=float))
    if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all():
        raise ValueError(f"grid must be a non-empty 1-d array of finite eps values; got shape {grid.shape}.")
    fit_levels = [lev for lev in levels if lev not in separated]
    coef, cov, converged, r_curve = pd.Series(dtype=float), pd.DataFrame(dtype=float), True, None
    if fit_levels:
        if backend == "r":
            coef, cov, converged, r_curve = _fit_r(data, fit_levels, cov_type, alpha, grid, band)
        else:
            coef, cov, converged, r_curve = _fit_python(data, fit_levels, cov_type)
    if not converged:
        warnings.warn(
            "the logistic fit did not converge in 100 IRLS iterations; the curve and its bands "
            "may be unreliable (near-separation?). Check res.observed.",
            RuntimeWarning,
            stacklevel=2,
        )
    if band == "simultaneous":
        z = float(np.sqrt(stats.chi2.isf(alpha, max(len(coef), 1))))
    else:
        z = float(stats.norm.isf(alpha / 2))
    pieces = []
    for lev in levels:
        if lev in separated:
            obs = observed[observed["defense"] == lev].set_index("eps")["proportion"]
            fitted = obs.reindex(grid).to_numpy(dtype=float)
            low = high = np.full(grid.size, np.nan)
        elif r_curve is not None:  # the R twin's own predictions
            part = r_curve[r_curve["defense"] == lev]
            fitted, low, high = (part[c].to_numpy(dtype=float) for c in ("fitted", "low", "high"))
        else:
            xg = _design(grid, np.full(grid.size, lev, dtype=object), fit_levels).to_numpy()
            eta = xg @ coef.to_numpy()
            se = np.sqrt(np.einsum("ij,jk,ik->i", xg, cov.to_numpy(), xg))
            fitted, low, high = expit(eta), expit(eta - z * se), expit(eta + z * se)
        pieces.append(pd.DataFrame({"defense": lev, "eps": grid, "fitted": fitted, "low": low, "high": high}))
    what = "cluster-robust (by example_id)" if cov_type == "cluster" else "model-based"
    return RobustnessCurve(
        curve=pd.concat(pieces, ignore_index=True), observed=observed, coefficients=coef, cov=cov,
        alpha=alpha, cov_type=cov_type, n_examples=int(data["example_id"].nunique()), n_obs=len(data),
        separation=bool(separated), separated=tuple(separated), converged=converged,
        method=f"logistic GLM, {what} standard errors, {band} bands", band=band, critical_value=z,
    )
