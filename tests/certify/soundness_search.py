"""Attacks used to check certificates: PGD with restarts and, for tiny inputs, a grid search.

A certificate is sound only if no attack we have finds an adversarial
example inside the certified ball; these helpers return, per example,
whether some attack did.
"""
import itertools

import numpy as np
import torch

from robustsk.attacks import PGD


def pgd_fooled(clf, X, y, eps, norm="inf", n_restarts=5, n_iter=40, seed=0):
    """Examples misclassified after PGD (margin loss and CE, ``n_restarts`` each)."""
    fooled = clf.predict(X) != y
    for loss in ("ce", "margin"):
        attack = PGD(eps=eps, norm=norm, n_iter=n_iter, n_restarts=n_restarts, loss=loss,
                     step_size=eps / 8, clip_min=None, clip_max=None, random_state=seed)
        fooled |= clf.predict(attack.generate(clf, X, y)) != y
    return fooled


def grid_fooled(clf, X, y, eps, levels=5, norm="inf"):
    """Examples with a misclassified point on a grid of the L-infinity (or L1) ball.

    L-infinity: every point of ``levels`` values per coordinate (vertices
    included). L1 (``norm="1"``): the ``2 d`` vertices and scaled copies.
    """
    X = np.asarray(X, dtype=np.float32)
    d = X.shape[1]
    if norm == "1":
        vertices = np.concatenate([np.eye(d), -np.eye(d)])
        offsets = np.concatenate([vertices * t for t in np.linspace(0, 1, levels)]) * eps
    else:
        values = np.linspace(-eps, eps, levels)
        offsets = np.array(list(itertools.product(values, repeat=d)))
    offsets = torch.as_tensor(offsets, dtype=torch.float32)
    module = clf.module_
    fooled = np.zeros(len(X), dtype=bool)
    label = np.searchsorted(clf.classes_, y)
    with torch.no_grad():
        for i, x in enumerate(torch.as_tensor(X)):
            pred = module(x[None] + offsets).argmax(1).numpy()
            fooled[i] = bool((pred != label[i]).any())
    return fooled
