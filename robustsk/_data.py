"""A batch iterator that slices whole tensors instead of collating examples.

skorch's default ``DataLoader`` fetches one example at a time and collates
them; for in-memory arrays, indexing the whole tensor with a batch of indices
does the same work in one call. :class:`BatchIterator` is a drop-in
replacement for the ``iterator_train`` / ``iterator_valid`` parameters that
falls back to ``DataLoader`` for datasets it cannot slice.
"""
import numpy as np
from skorch.dataset import Dataset
import torch
from torch.utils.data import DataLoader, Subset

__all__ = ["BatchIterator"]


def _as_tensor(a):
    if a is None:
        return None
    if torch.is_tensor(a):
        return a
    if isinstance(a, np.ndarray) and a.dtype != object:
        return torch.from_numpy(np.ascontiguousarray(a))
    return None


def _sliceable(dataset):
    """Return ``(X, y)`` tensors for a skorch Dataset (or a Subset of one), or None."""
    indices = None
    if isinstance(dataset, Subset):
        indices = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        dataset = dataset.dataset
    if type(dataset) is not Dataset:  # a subclass may transform its items
        return None
    X, y = dataset.X, dataset.y
    X_t, y_t = _as_tensor(X), _as_tensor(y)
    if X_t is None or (y is not None and y_t is None):
        return None
    if indices is not None:
        X_t = X_t[indices]
        y_t = None if y_t is None else y_t[indices]
    return X_t, y_t


class BatchIterator:
    """Iterate over mini-batches of an in-memory dataset by tensor indexing.

    Accepts the keyword arguments of ``torch.utils.data.DataLoader`` that make
    sense for in-memory data (``batch_size``, ``shuffle``, ``drop_last``,
    ``generator``); any other argument, or a dataset that is not a skorch
    ``Dataset`` over arrays, hands the work to ``DataLoader`` unchanged.

    Parameters
    ----------
    dataset : torch Dataset
    batch_size : int, default=1
    shuffle : bool, default=False
        A new permutation at every pass, drawn from ``generator`` (torch's
        default generator when None; robustsk's ``fit`` passes one it seeds
        for each epoch, :func:`robustsk.base.shuffle_seed`).
    drop_last : bool, default=False
    generator : torch.Generator, default=None
    **kwargs
        Other ``DataLoader`` arguments (then ``DataLoader`` is used).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None,
                 **kwargs):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self._tensors = None if kwargs else _sliceable(dataset)
        self._loader = None
        if self._tensors is None:
            self._loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                      drop_last=drop_last, generator=generator, **kwargs)

    def __len__(self):
        if self._loader is not None:
            return len(self._loader)
        n = len(self._tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if self._loader is not None:
            yield from self._loader
            return
        X, y = self._tensors
        n = len(X)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if self.drop_last and stop - start < self.batch_size:
                break
            idx = slice(start, stop) if order is None else order[start:stop]
            yield X[idx], (None if y is None else y[idx])
