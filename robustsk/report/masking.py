"""The report's gradient-masking checks: cheap, on a subset, at the training eps.

Each model gets :func:`robustsk.evaluation.check_gradient_masking` on the first
:data:`MASKING_EXAMPLES` test images with the white-box attack APGD-CE (50
iterations), the same with twice the steps and one more restart, a Square
attack of 300 queries on what APGD left, APGD at the box's full width, and the
checks of outputs (softmax) and gradients (zero, NaN). On digits this costs
2-3.5 s per model on one busy core, about 15 s for the five defenses
(``--no-masking-checks`` skips it; with 500 queries it was 19 s). The
findings are symptoms, not proof: with 100 examples the 2% threshold of the
black-box and more-steps checks is 3 examples.
"""
import time

__all__ = ["MASKING_EXAMPLES", "MASKING_SETTINGS", "masking_checks", "format_findings"]

#: How many test images the checks use.
MASKING_EXAMPLES = 100

#: What the checks run, for report.json.
MASKING_SETTINGS = {"max_examples": MASKING_EXAMPLES, "white_box": "APGD-CE, 50 iterations",
                    "more_steps": "2x the steps, 1 more restart",
                    "black_box": "Square, 300 queries", "tol": 0.02, "large_eps_tol": 0.05}


def masking_checks(model, X, y, eps, ctx, *, differentiable):
    """The findings of the gradient-masking checks on one model.

    Returns
    -------
    record : dict
        ``"findings"``: list of dicts (``name``, ``message``, ``statistic``,
        ``threshold``, ``eps``, ``details``); ``"seconds"``; ``"skipped"``: why
        the checks did not run (None when they ran).
    """
    from ..attacks import APGD, Square
    from ..evaluation import check_gradient_masking
    from ._json import jsonable
    if not differentiable:
        return {"findings": [], "seconds": 0.0,
                "skipped": "the model is not differentiable: the checks compare gradient "
                           "attacks with gradient-free ones"}
    if eps <= 0:
        return {"findings": [], "seconds": 0.0, "skipped": "eps is 0"}
    box = {"clip_min": ctx.clip_min, "clip_max": ctx.clip_max, "norm": ctx.norm}
    tic = time.perf_counter()
    findings = check_gradient_masking(
        model, X, y, eps=eps, attack=APGD(n_iter=50, loss="ce", **box),
        black_box=Square(n_iter=300, image_shape=ctx.square_image_shape, **box),
        random_state=ctx.seed, max_examples=MASKING_EXAMPLES, warn=False)
    return {"findings": [{"name": f.name, "message": f.message,
                          "statistic": f.statistic, "threshold": f.threshold,
                          "eps": jsonable(f.eps), "details": jsonable(dict(f.details))}
                         for f in findings],
            "n_examples": min(len(y), MASKING_EXAMPLES),
            "seconds": round(time.perf_counter() - tic, 2), "skipped": None}


def format_findings(masking, eps):
    """The findings as text, one block per model."""
    if not masking:
        return "gradient-masking checks: not run (--no-masking-checks)."
    n = max((r.get("n_examples", 0) for r in masking.values()), default=0)
    lines = ["gradient-masking checks (robustsk.evaluation.check_gradient_masking"
             + (f" at eps={eps:g} on the first {n} test images: APGD-CE-50, more steps, "
                "Square-300, APGD at a huge eps):" if n else "):")]
    for model, record in masking.items():
        if record["skipped"]:
            lines.append(f"  {model}: not checked ({record['skipped']})")
        elif not record["findings"]:
            lines.append(f"  {model}: no finding")
        for finding in record["findings"]:
            lines.append(f"  {model}: {finding['name']}: {finding['message']}")
    return "\n".join(lines)
