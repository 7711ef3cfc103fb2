"""robustsk: adversarial-robustness defenses as scikit-learn estimators."""
__version__ = "0.1.0"

__all__ = ["__version__", "TrainingDivergedError"]


def __getattr__(name):
    # imported on first use, so that ``import robustsk`` stays light (no torch)
    if name == "TrainingDivergedError":
        from .guard import TrainingDivergedError
        return TrainingDivergedError
    raise AttributeError(f"module 'robustsk' has no attribute {name!r}")
