"""Data-parallel training of one robustsk estimator through skorch's Accelerate integration.

:func:`accelerated` turns any robustsk estimator class into one that trains on
several processes or GPUs with Hugging Face Accelerate
(:class:`skorch.hf.AccelerateMixin`), launched by ``accelerate launch`` or
``torchrun``::

    from accelerate import Accelerator
    from robustsk.defenses import TRADES
    from robustsk.distributed import accelerated

    AcceleratedTRADES = accelerated(TRADES)
    net = AcceleratedTRADES(accelerator=Accelerator(), batch_size=256, random_state=0)
    net.fit(X, y)            # each of the N processes trains on 256 / N rows of every batch

What differs from ``AccelerateMixin`` alone, and why (robustsk's defenses
attack the network inside their training step, run several forward passes
before one backward pass, and some update several optimizers in turn):

* The defense's own ``train_step_single`` is kept (the mixin's would replace
  adversarial training by plain training).
* Modules are *not* wrapped in ``DistributedDataParallel``: an attack
  differentiates with respect to the inputs only, which DDP's reducer does not
  allow between two training forward passes, and the features paths of
  :mod:`robustsk.modules` bypass a wrapper's ``forward``. Instead every
  optimizer averages its parameters' gradients over the processes just before
  it steps (an ``all_reduce`` in a step pre-hook), so defenses with several
  optimizers, extra networks and alternating updates are synchronised too;
  attacks and predictions use the plain module.
* ``batch_size`` is the global batch. The training batches are those of a
  single-process fit (robustsk's ``BatchIterator``: the same permutation from
  the same seeded stream), and each process trains on its contiguous share of
  every batch; the training attacks' random draws are made for the global
  batch and sliced the same way (:class:`ShardedRandomness`). A run on N
  processes then follows the arithmetic of a single-process run with the same
  ``batch_size``, up to the order of float sums in the gradient average. (A
  ``torch.utils.data.DataLoader`` given as ``iterator_train`` is sharded by
  Accelerate instead, by its own rules.)
* Only training batches are sharded; ``predict``, ``score`` and the attacks
  of ``score_adversarial`` run on all of ``X`` in every process, and return
  the same result everywhere.

``device`` is left None and set to the accelerator's device in ``fit``. Mixed
precision through the accelerator's gradient scaler is not supported
(robustsk's defenses call ``backward`` themselves); ``BatchNorm`` layers see
per-process batch statistics (convert them with
``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` for exactness).
"""
import functools

import torch

from ._data import BatchIterator
from .attacks import Randomness
from .attacks.counter_rng import counter_uniform

__all__ = ["accelerated", "ShardedRandomness"]


class ShardedRandomness(Randomness):
    """One process's rows of random draws made for the whole global batch.

    Every process draws noise of the global batch's shape from the same seeded
    stream and keeps its contiguous share, so the noise an example receives
    does not depend on how many processes share the batch.

    Parameters
    ----------
    generator : torch.Generator
        The training stream (identical in every process).
    process_index, num_processes : int
    """

    def __init__(self, generator, process_index, num_processes):
        super().__init__(generator=generator)
        self.process_index = int(process_index)
        self.num_processes = int(num_processes)

    def _draw(self, fn, like):
        n = like.shape[0]
        # a training stream is a torch.Generator (per-example counter streams are
        # for evaluation): draw as Randomness does for one, for the global batch
        draw = torch.rand if fn is counter_uniform else torch.randn
        full = draw((n * self.num_processes, *like.shape[1:]), generator=self.generator,
                    dtype=torch.float32)
        out = full[self.process_index * n:(self.process_index + 1) * n]
        return out.to(device=like.device, dtype=like.dtype)


class _ProcessShare:
    """This process's contiguous share of every batch of a robustsk ``BatchIterator``.

    The batches, and the random draws that shuffle them, are those of a
    single-process fit; process ``i`` of ``n`` keeps rows ``i * k .. (i + 1) * k - 1``
    of each batch of ``n * k`` rows (an uneven last batch is split as evenly as
    possible, ``numpy.array_split``'s rule).
    """

    def __init__(self, batches, process_index, num_processes):
        self.batches = batches
        self.process_index = process_index
        self.num_processes = num_processes

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        for X, y in self.batches:
            n, parts = len(X), self.num_processes
            start = self.process_index * (n // parts) + min(self.process_index, n % parts)
            stop = start + n // parts + (self.process_index < n % parts)
            yield X[start:stop], (None if y is None else y[start:stop])


def _average_gradients(accelerator, optimizer, args, kwargs):
    """Step pre-hook: replace each gradient by its mean over the processes."""
    if accelerator.num_processes == 1:
        return
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]
             if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= accelerator.num_processes
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


@functools.lru_cache(maxsize=None)
def accelerated(cls):
    """The robustsk estimator class ``cls`` with data-parallel training through Accelerate.

    Parameters
    ----------
    cls : type
        A :class:`~robustsk.base.RobustClassifier` subclass (any defense of
        :func:`robustsk.defenses.all_defenses`).

    Returns
    -------
    type
        ``Accelerated<cls name>``, a subclass of ``skorch.hf.AccelerateMixin``
        and ``cls``, taking ``accelerator=accelerate.Accelerator(...)`` besides
        ``cls``'s parameters (see the module docstring for what it changes).
        The same class is returned for the same ``cls``.

    Examples
    --------
    >>> from robustsk.defenses import AdversarialTraining
    >>> accelerated(AdversarialTraining).__name__
    'AcceleratedAdversarialTraining'
    """
    from skorch.hf import AccelerateMixin

    from .base import RobustClassifier
    if not (isinstance(cls, type) and issubclass(cls, RobustClassifier)):
        raise TypeError(f"accelerated() got {cls!r}; expected a robustsk estimator class "
                        "(a RobustClassifier subclass such as robustsk.defenses.TRADES).")

    def initialize(self):
        if self.device is None:
            self.device = self.accelerator.device
        return AccelerateMixin.initialize(self)

    def _validate_params(self):
        cls._validate_params(self)  # the device is the accelerator's, set in initialize

    def initialize_optimizer(self, *args, **kwargs):
        cls.initialize_optimizer(self, *args, **kwargs)
        hook = functools.partial(_average_gradients, self.accelerator)
        for optimizer in self.optimizers():
            optimizer.register_step_pre_hook(hook)
        return self

    def _initialize_callbacks(self):
        # skorch's PrintLog prints through any sink but ``print`` whatever ``verbose``
        # says; the mixin's "auto" sink (the accelerator's print) is for verbose runs only.
        if isinstance(self.callbacks__print_log__sink, str) and not self.verbose:
            self.callbacks__print_log__sink = print
        return AccelerateMixin._initialize_callbacks(self)

    def _initialize_accelerator(self):
        self._wrapped_with_accelerator = True  # modules stay plain: see the module docstring
        return self

    def _unwrap_accelerator(self):
        self._wrapped_with_accelerator = False

    def get_iterator(self, dataset, training=False):
        iterator = cls.get_iterator(self, dataset, training=training)
        if not training:
            return iterator
        acc = self.accelerator
        if isinstance(iterator, BatchIterator):
            return _ProcessShare(iterator, acc.process_index, acc.num_processes)
        return acc.prepare(iterator)  # any other iterator: Accelerate shards it

    def training_randomness(self):
        rng = cls.training_randomness(self)
        acc = self.accelerator
        if acc.num_processes == 1 or rng.generator is None:
            return rng
        return ShardedRandomness(rng.generator, acc.process_index, acc.num_processes)

    namespace = {
        "initialize": initialize, "_validate_params": _validate_params,
        "initialize_optimizer": initialize_optimizer, "_initialize_callbacks": _initialize_callbacks,
        "_initialize_accelerator": _initialize_accelerator,
        "_unwrap_accelerator": _unwrap_accelerator, "get_iterator": get_iterator,
        "training_randomness": training_randomness,
        # the defense's own steps, not the mixin's plain ones
        "train_step_single": cls.train_step_single, "evaluation_step": cls.evaluation_step,
        "__module__": __name__, "__qualname__": f"Accelerated{cls.__name__}",
        "__doc__": f"{cls.__name__} trained data-parallel through Accelerate "
                   "(:func:`robustsk.distributed.accelerated`).",
    }
    new = type(f"Accelerated{cls.__name__}", (AccelerateMixin, cls), namespace)
    return new
