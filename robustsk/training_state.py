"""The trainable state of a fit: every module and optimizer, copied and put back exactly.

A defense may train several networks with several optimizers
(``extra_modules``, ``extra_optimizers`` of
:class:`~robustsk.base.RobustClassifier`): :func:`components` names them all,
:func:`snapshot` copies their tensors, :func:`restore` writes a copy back bit
for bit. :class:`~robustsk.guard.TrainingGuard` rolls back with them and
:class:`~robustsk.checkpoint.TrainingCheckpoint` saves them.
"""
import torch

__all__ = ["components", "snapshot", "restore", "clone_state"]


def components(net):
    """The modules and optimizers of a fitted net, by name.

    Parameters
    ----------
    net : RobustClassifier (or any skorch net)

    Returns
    -------
    modules : dict of str to torch.nn.Module
        ``"module"`` (``module_``), each of ``extra_modules`` (``name_``) and
        ``"criterion"`` (``criterion_``, which may hold weights).
    optimizers : dict of str to torch.optim.Optimizer
        ``"optimizer"`` and every extra optimizer, in the order of
        ``net.optimizer_names()``.

    Examples
    --------
    >>> from robustsk.datasets import load_digits_images
    >>> from robustsk.defenses import AdversarialFeatureDesensitization
    >>> X, y = load_digits_images(return_X_y=True)
    >>> afd = AdversarialFeatureDesensitization(n_iter=1, max_epochs=1, random_state=0)
    >>> modules, optimizers = components(afd.fit(X[:100], y[:100]))
    >>> sorted(modules), list(optimizers)
    (['criterion', 'discriminator', 'module'], ['optimizer', 'optimizer_discriminator', \
'optimizer_encoder'])
    """
    extra = getattr(net, "extra_modules", {})
    modules = {"module": net.module_}
    modules.update({name: getattr(net, name + "_") for name in extra})
    if isinstance(getattr(net, "criterion_", None), torch.nn.Module):
        modules["criterion"] = net.criterion_
    if hasattr(net, "optimizer_names"):
        optimizers = {name: getattr(net, name + "_") for name in net.optimizer_names()}
    else:
        optimizers = {"optimizer": net.optimizer_}
    return modules, optimizers


def clone_state(obj):
    """A copy of a (nested) state dict whose tensors share no memory with the original."""
    if torch.is_tensor(obj):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: clone_state(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [clone_state(v) for v in obj]
    return obj


def snapshot(net):
    """Copies of the state dicts of every module and optimizer of ``net``.

    Returns
    -------
    dict
        ``{"modules": {name: state_dict}, "optimizers": {name: state_dict}}``,
        tensors copied (the net may keep training; the copy does not change).
    """
    modules, optimizers = components(net)
    return {"modules": {n: clone_state(m.state_dict()) for n, m in modules.items()},
            "optimizers": {n: clone_state(o.state_dict()) for n, o in optimizers.items()}}


def restore(net, state):
    """Write a :func:`snapshot` (or a checkpoint's state) back into ``net``, exactly.

    Parameters are overwritten in place (optimizers keep referring to them);
    the snapshot is copied again, so it can be restored more than once.

    Raises
    ------
    ValueError
        The state names other modules or optimizers than ``net`` has, or
        tensors of other shapes (a checkpoint of another model).
    """
    modules, optimizers = components(net)
    for kind, have in (("modules", modules), ("optimizers", optimizers)):
        if set(state[kind]) != set(have):
            raise ValueError(
                f"the saved state has {kind} {sorted(state[kind])}, but "
                f"{type(net).__name__} has {sorted(have)}: it was saved from another "
                "kind of estimator.")
    try:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(clone_state(state["optimizers"][name]))
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ValueError(
            f"the saved state does not fit this {type(net).__name__} (other layer sizes or "
            f"parameters?): {exc}") from exc
