"""Shared building blocks of every gradient attack.

An iterative attack is a composition of four primitives, each a pure function
of tensors: a random start inside the ball, an ascent step along the input
gradient, the projection back onto the ball around the clean input, and the
clip to the input domain (the box). :class:`Randomness` supplies random draws
with one stream per example, and :func:`attack_context` leaves the model as the
attack found it. The best iterate of an evaluation is kept by
:mod:`robustsk.attacks.tracking`.
"""
from contextlib import contextmanager
import contextvars
import math
import secrets

import numpy as np
import torch

from ..params import Norm
from .counter_rng import counter_normal, counter_uniform, stream_keys

__all__ = [
    "check_norm", "Randomness", "example_seed", "attack_context", "input_gradient", "random_start",
    "ascent_step", "project", "clip_box", "as_box", "check_box_order",
    "seed_from_random_state", "derive_seed", "sync_free", "drops_examples",
]

_MASK64 = (1 << 64) - 1


def check_norm(norm):
    """Return ``"inf"`` or ``"2"`` for the accepted spellings of a norm.

    Parameters
    ----------
    norm : {"inf", "linf", np.inf, 2, "2", "l2"}
        The norm of the threat model.

    Returns
    -------
    norm : {"inf", "2"}
    """
    if isinstance(norm, str):
        key = norm.lower().strip()
        if key in Norm.INF:
            return "inf"
        if key in Norm.TWO:
            return "2"
    elif isinstance(norm, (int, float, np.integer, np.floating)) and not isinstance(norm, bool):
        if np.isinf(norm) and norm > 0:
            return "inf"
        if norm == 2:
            return "2"
    raise ValueError(
        f"norm={norm!r} is not supported: expected 'inf' (L-infinity ball) or 2 "
        "(L2 ball). Pass norm='inf' or norm=2."
    )


def _splitmix64(value):
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def example_seed(seed, position):
    """The seed of stream ``position`` under ``seed``: ``splitmix64(seed ^ splitmix64(position))``.

    :meth:`Randomness.for_examples` seeds example ``i`` with it, and
    :func:`robustsk.base.torch_seed` the epochs of a continued fit.

    Returns
    -------
    seed : int
        In ``[0, 2**64)``.
    """
    return _splitmix64(int(seed) ^ _splitmix64(int(position)))


def derive_seed(seed, key):
    """A 63-bit seed for the sub-task ``key`` of a computation seeded by ``seed``.

    Used to give each attack of an ensemble (``key`` its position) or each
    check of an evaluation its own stream, derived reproducibly from one seed:
    ``splitmix64(seed + key)`` truncated to 63 bits.

    Parameters
    ----------
    seed : int
        The parent seed (e.g. from :func:`seed_from_random_state`).
    key : int
        Which sub-task (a position or a fixed tag).

    Returns
    -------
    seed : int
        In ``[0, 2**63)``.

    Examples
    --------
    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    return _splitmix64(int(seed) + int(key)) & ((1 << 63) - 1)


def seed_from_random_state(random_state):
    """Turn ``None``, an int or a ``numpy`` random state into a 63-bit seed.

    ``None`` draws fresh entropy from the operating system, so no global random
    number generator (numpy's or torch's) is touched.
    """
    if random_state is None:
        return secrets.randbits(63)
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state) & ((1 << 63) - 1)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise TypeError(
        f"random_state={random_state!r} is not usable as a seed: expected None, an int "
        "or a numpy RandomState/Generator."
    )


class _Streams:
    """The keys and draw counters of a call's per-example streams, shared by its subsets."""

    def __init__(self, keys):
        self.keys = keys
        self.counters = torch.zeros_like(keys)

    def on(self, device):
        if self.keys.device != device:
            self.keys, self.counters = self.keys.to(device), self.counters.to(device)
        return self


class Randomness:
    """Random draws for a batch of examples, one stream per example or per batch.

    With per-example streams (``seeds``), the noise an example receives depends
    only on its own seed and on how many draws came before for it, never on the
    other examples in the batch: attacking a subset of the examples, or batching
    them differently, gives each example exactly the same attack.

    The per-example streams are counter-based
    (:mod:`robustsk.attacks.counter_rng`): draw ``j`` of example ``i`` is a
    hash of its seed and ``j``, computed for the whole batch by a few integer
    tensor operations on the attack's device, with no Python loop over the
    examples and no copy from the host.

    Parameters
    ----------
    seeds : sequence of int, optional
        One 64-bit seed per example. Mutually exclusive with ``generator``.
    generator : torch.Generator, optional
        One stream shared by the batch (cheaper; used inside training).
    """

    def __init__(self, seeds=None, generator=None):
        if (seeds is None) == (generator is None):
            raise ValueError("Give exactly one of seeds or generator.")
        self.generator = generator
        self._streams, self._rows = None, None
        if seeds is not None:
            keys = np.asarray([int(s) & _MASK64 for s in seeds], dtype=np.uint64)
            self._streams = _Streams(torch.from_numpy(keys.view(np.int64).copy()))

    @classmethod
    def for_examples(cls, random_state, n, offset=0, *, index=None):
        """Per-example streams, each seeded by the example's position in a call.

        Parameters
        ----------
        random_state : int, numpy random state or None
            The call's seed (None draws fresh entropy).
        n : int
            Examples ``offset .. offset + n - 1`` (ignored when ``index`` is given).
        offset : int, default=0
        index : sequence of int, default=None
            The examples' positions in the full call, in batch order: a subset
            gets exactly the streams it gets in a run over all examples.
        """
        base = seed_from_random_state(random_state)
        positions = np.arange(offset, offset + n) if index is None else \
            torch.as_tensor(index).flatten().cpu().numpy()
        new = cls.__new__(cls)
        new.generator, new._rows = None, None
        new._streams = _Streams(stream_keys(base, positions))
        return new

    @classmethod
    def coerce(cls, random_state, n):
        """Accept a :class:`Randomness`, a ``torch.Generator``, an int or None."""
        if isinstance(random_state, Randomness):
            return random_state
        if isinstance(random_state, torch.Generator):
            return cls(generator=random_state)
        return cls.for_examples(random_state, n)

    def __len__(self):
        if self._streams is None:
            raise TypeError("A shared-generator Randomness has no length.")
        return len(self._streams.keys) if self._rows is None else len(self._rows)

    def subset(self, index):
        """The streams of the examples selected by a boolean mask or index tensor.

        The subset shares the draw counters: an example's next draw continues
        its stream whichever object draws it.
        """
        if self._streams is None:
            return self
        device = self._streams.keys.device
        index = torch.as_tensor(index, device=device)
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        new = Randomness.__new__(Randomness)
        new.generator, new._streams = None, self._streams
        new._rows = index.long() if self._rows is None else self._rows[index]
        return new

    def _draw(self, fn, like):
        if self._streams is None:
            out = (torch.rand if fn is counter_uniform else torch.randn)(
                like.shape, generator=self.generator, dtype=torch.float32)
            return out.to(device=like.device, dtype=like.dtype)
        if len(self) != like.shape[0]:
            raise ValueError(f"{len(self)} random streams for a batch of {like.shape[0]}")
        streams = self._streams.on(like.device)
        rows = self._rows
        if rows is not None and rows.device != like.device:
            rows = self._rows = rows.to(like.device)
        keys = streams.keys if rows is None else streams.keys[rows]
        counters = streams.counters if rows is None else streams.counters[rows]
        out = fn(keys, counters, tuple(like.shape[1:]), dtype=torch.float32)
        n_draws = math.prod(like.shape[1:])
        used = n_draws if fn is counter_uniform else 2 * ((n_draws + 1) // 2)
        if rows is None:
            streams.counters += used
        else:
            streams.counters.index_add_(0, rows, torch.full_like(rows, used))
        return out.to(dtype=like.dtype)

    def uniform(self, like, low=-1.0, high=1.0):
        """Uniform noise on ``[low, high)`` with the shape, dtype and device of ``like``."""
        return low + (high - low) * self._draw(counter_uniform, like)

    def normal(self, like):
        """Standard normal noise with the shape, dtype and device of ``like``."""
        return self._draw(counter_normal, like)


_SYNC_FREE = contextvars.ContextVar("robustsk_sync_free", default=False)


@contextmanager
def sync_free(enabled=True):
    """Run attacks without reading tensor values on the host inside their step loops.

    By default an attack's step loop on the CPU drops the examples it has
    already fooled from the batch (the host reads which ones: free on the
    CPU, and it saves their gradients). On an accelerator that read would make
    the host wait for the device every step, so there, and inside this
    context, the loops keep every example and mask the fooled ones' updates
    instead (the per-example results are the same: the first successful
    iterate is kept). Between restarts the examples still standing are
    selected once, on every device.

    Parameters
    ----------
    enabled : bool, default=True

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import drops_examples, sync_free
    >>> with sync_free():
    ...     drops_examples(torch.zeros(1))
    False
    >>> drops_examples(torch.zeros(1))
    True
    """
    token = _SYNC_FREE.set(bool(enabled))
    try:
        yield
    finally:
        _SYNC_FREE.reset(token)


def drops_examples(like):
    """Whether step loops on ``like``'s device drop fooled examples (see :func:`sync_free`).

    True on the CPU outside :func:`sync_free`; False on accelerators.
    """
    return like.device.type == "cpu" and not _SYNC_FREE.get()


def _per_example(value, like):
    """Broadcast a scalar or per-example tensor against a batch ``like``."""
    if torch.is_tensor(value) and value.ndim == 1:
        return value.to(like.device, like.dtype).view(-1, *([1] * (like.ndim - 1)))
    return value


def flat_norm(delta, norm):
    """Per-example norm (``"inf"`` or L2) of a batch ``delta``; zeros for empty examples."""
    flat = delta.flatten(1)
    if norm == "inf":
        return flat.abs().amax(dim=1) if flat.shape[1] else flat.new_zeros(len(flat))
    return flat.norm(p=2, dim=1)


@contextmanager
def attack_context(model, mode="eval"):
    """Put ``model`` in the mode an attack needs and restore it afterwards.

    The train/eval flag of every submodule and the ``requires_grad`` flag of
    every parameter are restored exactly as found, even if the attack raises.
    Parameters stop requiring gradients during the attack (only the input
    gradient is needed), which also saves the weight-gradient arithmetic.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Anything else than a module (a score function of a black-box attack)
        is left as it is.
    mode : {"eval", "train", None}, default="eval"
        ``None`` keeps whatever mode the model is in.
    """
    if mode not in ("eval", "train", None):
        raise ValueError(f"mode={mode!r}: expected 'eval', 'train' or None.")
    if not isinstance(model, torch.nn.Module):
        yield model
        return
    # only what changes is set and restored (a step loop enters this once per batch)
    flags = [] if mode is None else [(m, m.training) for m in model.modules()
                                     if m.training != (mode == "train")]
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        if flags:
            model.train(mode == "train")
        for p in params:
            p.requires_grad_(False)
        yield model
    finally:
        for m, training in flags:
            m.training = training
        for p in params:
            p.requires_grad_(True)


def input_gradient(model, x, y, loss_fn, *, create_graph=False, **loss_kwargs):
    """Per-example loss, logits and the gradient of the summed loss wrt ``x``.

    Parameters
    ----------
    model : torch.nn.Module or callable
        Maps a batch of inputs to logits.
    x : Tensor of shape (n_samples, ...)
        The inputs; never modified (the gradient is taken at a detached copy).
    y : Tensor of shape (n_samples,)
        Labels (or whatever ``loss_fn`` takes as its second argument).
    loss_fn : callable
        ``(logits, y, **loss_kwargs) -> Tensor of shape (n_samples,)``, e.g.
        one of :mod:`robustsk.attacks.losses`.
    create_graph : bool, default=False
        False (attacks): everything returned is detached. True (a
        regulariser on the input gradient, e.g. gradient-norm penalties):
        the graph of the gradient is built, so ``loss``, ``logits`` and
        ``grad`` are *not* detached and a loss built from ``grad`` can be
        back-propagated to the model's parameters (double backprop). Then do
        not call it inside :func:`attack_context`, which turns the
        parameters' ``requires_grad`` off (their ``.grad`` would stay empty).
    **loss_kwargs
        Passed to ``loss_fn``.

    Returns
    -------
    loss : Tensor of shape (n_samples,)
    logits : Tensor of shape (n_samples, n_classes)
    grad : Tensor with the shape of ``x``

    Examples
    --------
    >>> import torch
    >>> from robustsk.attacks import input_gradient
    >>> from robustsk.attacks.losses import cross_entropy
    >>> model = torch.nn.Linear(3, 2)
    >>> x, y = torch.zeros(4, 3), torch.tensor([0, 1, 0, 1])
    >>> loss, logits, grad = input_gradient(model, x, y, cross_entropy, create_graph=True)
    >>> grad.pow(2).sum().backward()
    >>> model.weight.grad.shape
    torch.Size([2, 3])
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = loss_fn(logits, y, **loss_kwargs)
        # the gradient of the summed loss, without the sum: its backward is these ones
        grad, = torch.autograd.grad(loss, x, torch.ones_like(loss), create_graph=create_graph)
    if create_graph:
        return loss, logits, grad
    return loss.detach(), logits.detach(), grad  # a gradient outside a graph has none to drop


def random_start(x, eps, norm, rng):
    """A point drawn uniformly from the ``norm`` ball of radius ``eps`` around ``x``."""
    eps = _per_example(eps, x)
    if norm == "inf":
        return x + eps * rng.uniform(x, -1.0, 1.0)
    direction = rng.normal(x)
    direction = direction / flat_norm(direction, "2").clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    n_dims = x[0].numel()
    radius = rng.uniform(x[:, :1].flatten(1)[:, :1], 0.0, 1.0).flatten() ** (1.0 / max(n_dims, 1))
    return x + eps * radius.view(-1, *[1] * (x.ndim - 1)) * direction


def ascent_step(x, grad, step_size, norm):
    """One steepest-ascent step: the sign of the gradient (Linf) or its direction (L2)."""
    step_size = _per_example(step_size, x)
    if norm == "inf":
        return x + grad.sign() * step_size
    scale = flat_norm(grad, "2").clamp_min(1e-12).view(-1, *[1] * (x.ndim - 1))
    return x + step_size * grad / scale


def project(x_adv, x, eps, norm):
    """Project ``x_adv`` onto the ``norm`` ball of radius ``eps`` around ``x``."""
    delta = x_adv - x
    eps_b = _per_example(eps, x)
    if norm == "inf":
        if torch.is_tensor(eps_b):
            delta = torch.maximum(torch.minimum(delta, eps_b), -eps_b)
        else:
            delta = delta.clamp(-eps_b, eps_b)
    else:
        norms = flat_norm(delta, "2").view(-1, *[1] * (x.ndim - 1))
        delta = delta * torch.clamp(eps_b / norms.clamp_min(1e-12), max=1.0)
    return x + delta


def as_box(clip_min, clip_max, like):
    """Turn scalar or per-feature bounds into tensors on ``like``'s device, or None.

    Raises ``ValueError`` for a lower bound above the upper one (an inverted box).
    """
    def conv(v):
        if v is None:
            return None
        return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=like.dtype, device=like.device)
    check_box_order(clip_min, clip_max)
    return conv(clip_min), conv(clip_max)


def check_box_order(clip_min, clip_max):
    """Raise ``ValueError`` if ``clip_min`` lies above ``clip_max`` anywhere (an empty box).

    Parameters
    ----------
    clip_min, clip_max : None, number or array-like
        The input domain's bounds (None: unbounded on that side).

    Examples
    --------
    >>> check_box_order(0.0, 1.0)
    >>> check_box_order(None, 1.0)
    """
    if clip_min is not None and clip_max is not None and \
            np.any(np.asarray(clip_min, dtype=np.float64) > np.asarray(clip_max, dtype=np.float64)):
        raise ValueError(f"clip_min exceeds clip_max somewhere: the box is empty. Got "
                         f"clip_min={clip_min!r}, clip_max={clip_max!r}: expected clip_min <= "
                         "clip_max (the input domain's bounds, e.g. 0 and 1).")


def clip_box(x, clip_min=None, clip_max=None):
    """Clip ``x`` to the input domain; bounds are None, scalars or broadcastable tensors."""
    if clip_min is None and clip_max is None:
        return x
    return torch.clamp(x, min=clip_min, max=clip_max)
