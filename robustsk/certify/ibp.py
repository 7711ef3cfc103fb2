"""Interval bound propagation (Gowal et al., 2018) for feed-forward ReLU networks.

A box ``[l, u]`` is carried through the network layer by layer: an affine
layer (``Linear``, ``Conv1d``/``Conv2d``, average pooling, ``BatchNorm`` in
eval mode) maps the centre ``m = (u + l) / 2`` and radius ``r = (u - l) / 2``
to ``W m + b +- |W| r``; monotone layers (``ReLU``, max pooling) are applied
to both ends; shape layers (``Flatten``, ``Unflatten``, ``Identity``,
``Dropout`` in eval mode) to both. The input set is the eps-ball intersected
with the input box. For an L2 ball, the first affine layer is bounded exactly
through the dual norm (``w . x0 +- eps ||w||_2``), intersected with the
bound the box gives. The last linear layer is folded into the margins
``z_y - z_j`` (rows ``W_y - W_j``), which is tighter than subtracting logit
bounds.

Why hand-written: the library that does this for torch (auto_LiRPA) pins
torch < 1.13 on the package index. The bounds are computed in float64, so
they are sound up to float64 rounding, far below the float32 network's own.

Supported networks: ``nn.Sequential`` of the layers above (nested
``Sequential`` too), robustsk's :class:`~robustsk.modules.MLP` and
:class:`~robustsk.modules.SmallCNN`, and any module with an ``as_sequential()``
method returning an equivalent ``nn.Sequential`` of supported layers. Anything
else raises ``TypeError`` naming the layer, before any work.
"""
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["network_layers", "interval_bounds", "margin_lower_bounds", "SUPPORTED_LAYERS"]

_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.AvgPool1d, nn.AvgPool2d,
           nn.BatchNorm1d, nn.BatchNorm2d)
_MONOTONE = (nn.ReLU, nn.MaxPool1d, nn.MaxPool2d)
_SHAPE = (nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout)

#: Layer types interval bound propagation handles.
SUPPORTED_LAYERS = tuple(t.__name__ for t in (*_AFFINE, *_MONOTONE, *_SHAPE, nn.Sequential))


def network_layers(module):
    """The network as a flat list of supported layers, or ``TypeError`` naming the first other.

    Parameters
    ----------
    module : torch.nn.Module
        An ``nn.Sequential`` (possibly nested), a single supported layer, or a
        module with ``as_sequential()`` (robustsk's MLP and SmallCNN).

    Returns
    -------
    list of torch.nn.Module

    Examples
    --------
    >>> from torch import nn
    >>> [type(m).__name__ for m in network_layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))]
    ['Linear', 'ReLU']
    """
    layers = []
    _collect(module, type(module).__name__, layers)
    return layers


def _collect(module, path, out):
    if hasattr(module, "as_sequential") and callable(module.as_sequential):
        _collect(module.as_sequential(), path, out)
    elif isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            _collect(child, f"{path}.{name}", out)
    elif isinstance(module, (*_AFFINE, *_MONOTONE, *_SHAPE)):
        _check_layer(module, path)
        out.append(module)
    else:
        raise TypeError(
            f"Interval bound propagation cannot certify the layer {path} of type "
            f"{type(module).__name__}: expected a feed-forward ReLU network built from "
            f"{', '.join(SUPPORTED_LAYERS)}. Rebuild the network from these layers (or give "
            "it an as_sequential() method returning an equivalent nn.Sequential), or use "
            "another certification method (e.g. RandomizedSmoothingClassifier).")


def _check_layer(layer, path):
    bad = None
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)) and layer.padding_mode != "zeros":
        bad = f"padding_mode={layer.padding_mode!r} (only 'zeros')"
    elif isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)) and layer.return_indices:
        bad = "return_indices=True"
    elif isinstance(layer, (nn.AvgPool1d, nn.AvgPool2d)) and getattr(layer, "divisor_override", None):
        bad = "divisor_override"
    elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and not layer.track_running_stats:
        bad = "track_running_stats=False (batch statistics are not a fixed affine map)"
    if bad:
        raise TypeError(f"Interval bound propagation cannot certify the layer {path} "
                        f"({type(layer).__name__}) with {bad}.")


def _conv(layer, x, weight, bias):
    fn = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
    return fn(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def _affine(layer, x, absolute=False):
    """The affine layer at ``x`` (float64); ``absolute``: |W| and no bias (radius map)."""
    if isinstance(layer, nn.Linear):
        w = layer.weight.double()
        return F.linear(x, w.abs() if absolute else w,
                        None if absolute or layer.bias is None else layer.bias.double())
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        w = layer.weight.double()
        b = None if absolute or layer.bias is None else layer.bias.double()
        return _conv(layer, x, w.abs() if absolute else w, b)
    if isinstance(layer, (nn.AvgPool1d, nn.AvgPool2d)):  # non-negative weights
        return layer(x)
    # BatchNorm in eval mode: y = s x + t per channel
    var, mean = layer.running_var.double(), layer.running_mean.double()
    scale = 1.0 / torch.sqrt(var + layer.eps)
    shift = -mean * scale
    if layer.affine:
        scale, shift = scale * layer.weight.double(), shift * layer.weight.double() + layer.bias.double()
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if absolute:
        return x * scale.abs().view(shape)
    return x * scale.view(shape) + shift.view(shape)


def _dual_norm_bounds(layer, x0, eps):
    """Exact bounds of a first ``Linear``/``Conv`` layer over the L2 ball: ``w_i . x0 + b_i +- eps ||w_i||``.

    None for other affine layers (pooling, batch norm): their box bound is used alone.
    """
    if isinstance(layer, nn.Linear):
        norms = layer.weight.double().norm(dim=1)
    elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        # each output unit's row norm, border units seeing zero padding included
        norms = _conv(layer, torch.ones_like(x0[:1]), layer.weight.double() ** 2, None).sqrt()
    else:
        return None
    centre = _affine(layer, x0)
    return centre - eps * norms, centre + eps * norms


def _box(x, eps, norm, clip_min, clip_max):
    lo, hi = x - eps, x + eps
    if clip_min is not None:
        lo = torch.maximum(lo, torch.as_tensor(clip_min, dtype=x.dtype, device=x.device))
    if clip_max is not None:
        hi = torch.minimum(hi, torch.as_tensor(clip_max, dtype=x.dtype, device=x.device))
    return lo, hi


def _propagate(layers, x, eps, norm, clip_min, clip_max):
    """Bounds after ``layers``, starting from the ball around ``x`` (float64)."""
    lo, hi = _box(x, eps, norm, clip_min, clip_max)
    centre = x if norm == "2" else None  # the L2 ball is still exact until the first affine layer
    for layer in layers:
        if isinstance(layer, _SHAPE):
            lo, hi = _shape(layer, lo), _shape(layer, hi)
            centre = None if centre is None else _shape(layer, centre)
        elif isinstance(layer, _AFFINE):
            m, r = (hi + lo) / 2, (hi - lo) / 2
            mid, rad = _affine(layer, m), _affine(layer, r, absolute=True)
            new_lo, new_hi = mid - rad, mid + rad
            if centre is not None:
                dual = _dual_norm_bounds(layer, centre, eps)
                if dual is not None:
                    new_lo, new_hi = torch.maximum(new_lo, dual[0]), torch.minimum(new_hi, dual[1])
                centre = None
            lo, hi = new_lo, new_hi
        elif isinstance(layer, nn.ReLU):  # not the layer itself: it may be in-place
            lo, hi, centre = F.relu(lo), F.relu(hi), None
        else:  # max pooling: monotone
            lo, hi, centre = layer(lo), layer(hi), None
    return lo, hi, centre


def _shape(layer, x):
    if isinstance(layer, nn.Dropout):
        return x
    return layer(x)


def interval_bounds(module, x, eps, *, norm="inf", clip_min=None, clip_max=None):
    """Lower and upper bounds of the network's outputs over the eps-ball around each ``x``.

    Parameters
    ----------
    module : torch.nn.Module
        A supported network (see :func:`network_layers`); used in eval mode.
    x : Tensor of shape (n_samples, ...)
    eps : float
        Radius of the ball.
    norm : {"inf", "2"}, default="inf"
    clip_min, clip_max : float, ndarray or Tensor, default=None
        The input box; the ball is intersected with it (None: unbounded).

    Returns
    -------
    lower, upper : Tensor of shape (n_samples, n_outputs), float64

    Examples
    --------
    >>> import torch
    >>> lo, hi = interval_bounds(torch.nn.Linear(3, 2), torch.zeros(1, 3), 0.1)
    >>> bool((lo <= hi).all())
    True
    """
    layers = network_layers(module)
    with torch.no_grad():
        lo, hi, centre = _propagate(layers, x.double(), float(eps), norm, clip_min, clip_max)
    return lo, hi


def margin_lower_bounds(module, x, y, eps, *, norm="inf", clip_min=None, clip_max=None):
    """Lower bounds of ``z_y - z_j`` over the ball, for every class ``j`` (``+inf`` at ``j = y``).

    A final ``nn.Linear`` is folded into the margin (rows ``W_y - W_j``);
    with an L2 ball and a network that is one linear layer, the bound is exact
    up to the box.

    Parameters
    ----------
    module, x, eps, norm, clip_min, clip_max : as :func:`interval_bounds`
    y : LongTensor of shape (n_samples,)
        Class indices.

    Returns
    -------
    Tensor of shape (n_samples, n_classes), float64
        The prediction at every point of the ball is ``y`` if every entry is > 0.
    """
    layers = network_layers(module)
    with torch.no_grad():
        x = x.double()
        last = layers[-1] if layers and isinstance(layers[-1], nn.Linear) else None
        body = layers[:-1] if last is not None else layers
        lo, hi, centre = _propagate(body, x, float(eps), norm, clip_min, clip_max)
        if last is None:
            bound = lo.gather(1, y[:, None]) - hi
        else:
            w, b = last.weight.double(), last.bias
            diff = w[y][:, None, :] - w[None, :, :]  # (n, C, d): rows W_y - W_j
            m, r = ((hi + lo) / 2).flatten(1), ((hi - lo) / 2).flatten(1)
            bound = (diff @ m[:, :, None]).squeeze(2) - (diff.abs() @ r[:, :, None]).squeeze(2)
            if centre is not None:  # the L2 ball reached the last layer unchanged
                c = centre.flatten(1)
                exact = (diff @ c[:, :, None]).squeeze(2) - eps * diff.norm(dim=2)
                bound = torch.maximum(bound, exact)
            if b is not None:
                b = b.double()
                bound = bound + (b[y][:, None] - b[None, :])
        bound = bound.clone()
        bound[torch.arange(len(y), device=bound.device), y] = float("inf")
    return bound
