"""Evaluation batches sized by memory, not by the training batch size.

An attack holds one batch's activations (and their gradients) at a time. The
largest batch that fits a memory budget is the fastest on an accelerator
(fewer, fuller kernel launches) and bounds the memory on any device.
:func:`memory_batch_size` measures what one example costs in a forward pass
and divides the budget by it; an attack with ``batch_size="auto"`` uses it.
"""
import math

import torch

__all__ = ["memory_batch_size", "DEFAULT_CPU_BUDGET"]

#: the budget on the CPU: 256 MiB of activations per batch
DEFAULT_CPU_BUDGET = 256 * 2**20

#: activations are kept for the backward pass, which adds their gradients and
#: some workspace: this many times the forward activations
_BACKWARD_FACTOR = 3


def memory_batch_size(module, x, *, budget_bytes=None, min_size=1, max_size=4096):
    """The largest batch of examples like ``x[0]`` whose attack fits ``budget_bytes``.

    One example is passed forward (without gradient); the bytes of every
    submodule's output are summed, times 3 for the backward pass (gradients
    and workspace), plus the example itself.

    Parameters
    ----------
    module : torch.nn.Module
        The attacked network.
    x : Tensor of shape (n, ...)
        Inputs on the module's device (only ``x[:1]`` is used).
    budget_bytes : int, default=None
        None: a quarter of the free memory on a CUDA device,
        :data:`DEFAULT_CPU_BUDGET` (256 MiB) elsewhere.
    min_size, max_size : int, default=1, 4096

    Returns
    -------
    batch_size : int

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    >>> memory_batch_size(net, torch.zeros(1, 8, 8), budget_bytes=2**20)
    748
    """
    if budget_bytes is None:
        if x.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(x.device)
            budget_bytes = free // 4
        else:
            budget_bytes = DEFAULT_CPU_BUDGET
    if budget_bytes <= 0:
        raise ValueError(f"budget_bytes={budget_bytes!r}: expected a positive number of bytes.")
    sizes = []

    def hook(_module, _inputs, output):
        for out in (output if isinstance(output, (tuple, list)) else (output,)):
            if torch.is_tensor(out):
                sizes.append(out.numel() * out.element_size())

    leaves = [m for m in module.modules() if not list(m.children())] \
        if isinstance(module, torch.nn.Module) else []
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            out = module(x[:1])
        if not sizes and torch.is_tensor(out):
            sizes.append(out.numel() * out.element_size())
    finally:
        for handle in handles:
            handle.remove()
    per_example = _BACKWARD_FACTOR * sum(sizes) + 2 * x[:1].numel() * x.element_size()
    return int(min(max(math.floor(budget_bytes / max(per_example, 1)), min_size), max_size))
