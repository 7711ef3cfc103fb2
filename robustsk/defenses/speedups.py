"""Opt-in speed-ups of adversarial training: a compiled attack, bf16 autocast, channels_last.

:class:`TrainingSpeedups` is a mixin for defenses whose ``train_step_single``
runs an attack on ``attack_module()`` and a loss through ``infer``
(:class:`~robustsk.defenses.AdversarialTraining`, :class:`~robustsk.defenses.TRADES`).
It declares three parameters, each off by default, validated in ``fit``:

``compile_attack``
    ``torch.compile`` the network the training attack differentiates (the
    forward and backward passes of its steps; the training update itself runs
    the uncompiled network, which shares the same parameters). The first
    batches pay the compilation (tens of seconds on a CPU); it helps on long
    fits of larger networks, mostly on a GPU. Needs a C++ compiler on the CPU.
``autocast``
    ``"bfloat16"`` runs the attack and the loss under
    ``torch.autocast(device_type, dtype=torch.bfloat16)`` on the estimator's
    device (CPU or CUDA): faster on GPUs with bf16 tensor cores, usually
    slower on a CPU. Weights, inputs and adversarial examples stay float32.
``channels_last``
    Keep the network's 4-d weights and the batch's images in
    ``torch.channels_last`` memory format (faster convolutions on GPUs and
    with oneDNN). A no-op for inputs that are not 4-d.

A defense using it calls :meth:`TrainingSpeedups.speedup_context` around its
step and :meth:`TrainingSpeedups.speedup_inputs` on the batch; the mixin
provides ``attack_module`` and ``initialize_module``.
"""
from contextlib import nullcontext
import weakref

import numpy as np
import torch

from ..params import InstanceOf, Options

__all__ = ["TrainingSpeedups"]

_BOOL = InstanceOf((bool, np.bool_), "True or False")
# torch.compile wrappers of fitted networks, keyed by the network: no state on the
# estimator, so clone and pickling see nothing new.
_COMPILED = weakref.WeakKeyDictionary()


class TrainingSpeedups:
    """Mixin: ``compile_attack``, ``autocast`` and ``channels_last`` (see module docstring).

    Parameters (declared by the defense's ``__init__``)
    ----------
    compile_attack : bool, default=False
    autocast : {None, "bfloat16"}, default=None
    channels_last : bool, default=False

    Examples
    --------
    >>> from robustsk.defenses import AdversarialTraining
    >>> clf = AdversarialTraining(compile_attack=False, autocast="bfloat16", channels_last=True)
    >>> clf.get_params()["autocast"]
    'bfloat16'
    """

    _parameter_constraints = {
        "compile_attack": [_BOOL],
        "autocast": [None, Options("bfloat16")],
        "channels_last": [_BOOL],
    }

    def attack_module(self):
        """``module_``, compiled with ``torch.compile`` when ``compile_attack`` is True."""
        module = super().attack_module()
        if not self.compile_attack:
            return module
        compiled = _COMPILED.get(module)
        if compiled is None:
            compiled = _COMPILED[module] = torch.compile(module)
        return compiled

    def initialize_module(self):
        """skorch's module set-up, then ``channels_last`` memory format if asked."""
        out = super().initialize_module()
        if self.channels_last:
            self.module_.to(memory_format=torch.channels_last)
        return out

    def speedup_context(self):
        """bf16 autocast on the estimator's device if ``autocast="bfloat16"``, else nothing."""
        if self.autocast is None:
            return nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16)

    def speedup_inputs(self, x):
        """The batch in ``channels_last`` format if asked and 4-d; else ``x`` itself."""
        if self.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x
