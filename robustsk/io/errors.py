"""The errors :func:`robustsk.io.load` raises for a file it will not load."""

__all__ = ["ModelFileError", "CorruptFileError", "UnsafeFileError", "IncompatibleFileError"]


class ModelFileError(ValueError):
    """A model file that :func:`robustsk.io.load` refuses (base of the three below)."""


class CorruptFileError(ModelFileError):
    """The file is truncated, was changed after it was written, or is not a model file."""


class UnsafeFileError(ModelFileError):
    """Loading the file would run code from it: a pickle, or a type or import path not trusted."""


class IncompatibleFileError(ModelFileError):
    """The file was written in a newer file format or by another major version of robustsk."""
