"""Data files shipped with robustsk (read with importlib.resources)."""
