"""The errors :func:`robustsk.io.load` raises for a file it will not load."""

__all__ = ["ModelFileError", "CorruptFileError", "UnsafeFileError", "PickleFileError",
           "IncompatibleFileError"]


class ModelFileError(ValueError):
    """A model file that :func:`robustsk.io.load` refuses (base of the three below)."""


class CorruptFileError(ModelFileError):
    """The file is truncated, was changed after it was written, or is not a model file."""


class UnsafeFileError(ModelFileError):
    """Loading the file would run code from it: a pickle, or a type or import path not trusted.

    Attributes
    ----------
    untrusted : list of str
        The names that were not trusted (empty for a pickle); passing them as
        ``trusted=`` loads the file, if you trust its author.
    """

    def __init__(self, message, untrusted=()):
        super().__init__(message)
        self.untrusted = list(untrusted)


class PickleFileError(UnsafeFileError):
    """The file is a pickle (plain, joblib-compressed, or inside a torch.save archive)."""


class IncompatibleFileError(ModelFileError):
    """The file was written in a newer file format or by another major version of robustsk."""
