"""The one batch loop every attack runs through.

:func:`run_batches` runs an attack's tensor-level :meth:`~robustsk.attacks.Attack.perturb`
batch by batch over selected rows of ``x``. Each example draws from its own
random stream, seeded by its row in ``x`` (``Randomness.for_examples(seed,
index=rows)``), so an example gets exactly the same random draws whether it is
attacked alone, in a subset or with all of ``x``, and whatever the batch size.
The model's own arithmetic may still round an example's logits differently in
batches of other sizes (torch's CPU matrix products block by the number of rows,
about 1e-7 relative in float32), which can move an adversarial example by a
rounding step where a step's outcome is a near tie.
"""
import torch

from ._primitives import Randomness
from .batching import memory_batch_size

__all__ = ["run_batches"]


def run_batches(attack, module, x, y, *, threat, seed, rows=None, y_target=None,
                batch_size=None, return_info=False):
    """Run ``attack.perturb`` batch by batch on the rows ``rows`` of ``x``.

    Parameters
    ----------
    attack : Attack
        Any attack with a tensor-level :meth:`~robustsk.attacks.Attack.perturb`.
    module : torch.nn.Module or callable
        Maps a batch of inputs to logits (or scores, for score-based attacks).
    x : Tensor of shape (n_samples, ...)
        All the inputs; never modified.
    y : LongTensor of shape (n_samples,)
        True labels of all of ``x`` as class indices.
    threat : Threat
        The resolved threat model (``attack.resolve_threat(target)``).
    seed : int
        The call's seed (e.g. ``attack.random_seed(target)``); example ``i``
        of ``x`` draws from the stream seeded by ``seed`` and ``i``.
    rows : sequence or LongTensor of int, default=None
        The rows of ``x`` to attack, in the order of the output; None: all.
    y_target : LongTensor of shape (n_samples,), default=None
        Target classes of a targeted attack, for all of ``x``.
    batch_size : int or "auto", default=None
        Rows per call of ``perturb``; None runs all selected rows at once;
        ``"auto"``: as many as fit a memory budget
        (:func:`~robustsk.attacks.memory_batch_size`: a quarter of the free
        GPU memory, 256 MiB on the CPU), whatever the training batch size.
    return_info : bool, default=False
        Call ``attack.perturb_with_info`` and also return its per-example
        tensors, concatenated over batches.

    Returns
    -------
    x_adv : Tensor of shape (len(rows), ...)
        The adversarial examples of the selected rows, in the order of ``rows``.
    info : dict of str to Tensor, only with ``return_info=True``

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import PGD, Threat, run_batches
    >>> model = torch.nn.Linear(4, 3)
    >>> x, y = torch.rand(10, 4), torch.randint(0, 3, (10,))
    >>> threat = Threat(eps=0.1, norm="inf", clip_min=0.0, clip_max=1.0)
    >>> full = run_batches(PGD(n_iter=3), model, x, y, threat=threat, seed=0, batch_size=4)
    >>> part = run_batches(PGD(n_iter=3), model, x, y, threat=threat, seed=0, rows=[7, 2])
    >>> bool((part == full[[7, 2]]).all())
    True
    """
    n = len(x) if rows is None else len(rows)
    if isinstance(batch_size, str) and batch_size == "auto":
        batch_size = memory_batch_size(module, x) if len(x) else None
    step = batch_size or max(n, 1)
    x_adv = torch.empty((n, *x.shape[1:]), dtype=x.dtype, device=x.device)
    infos = []
    for start in range(0, n, step):
        if rows is None:  # contiguous rows: slices, no copies
            index = slice(start, min(start + step, n))
            rng = Randomness.for_examples(seed, index.stop - start, offset=start)
        else:
            index = torch.as_tensor(rows[start:start + step], dtype=torch.long)
            rng = Randomness.for_examples(seed, len(index), index=index)
        t = None if y_target is None else y_target[index]
        if return_info:
            out, info = attack.perturb_with_info(module, x[index], y[index], threat=threat,
                                                 rng=rng, y_target=t)
            infos.append(info)
        else:
            out = attack.perturb(module, x[index], y[index], threat=threat, rng=rng, y_target=t)
        x_adv[start:start + step] = out.detach()
    if not return_info:
        return x_adv
    keys = infos[0].keys() if infos else ()
    return x_adv, {k: torch.cat([torch.as_tensor(i[k]) for i in infos]) for k in keys}
