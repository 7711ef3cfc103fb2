"""robustsk: adversarial-robustness defenses as scikit-learn estimators on skorch."""
from pathlib import Path
import re

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"',
                    (HERE / "robustsk" / "__init__.py").read_text()).group(1)

setup(
    name="robustsk",
    version=VERSION,
    description="Adversarial-robustness defenses and attacks as scikit-learn estimators (skorch)",
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    license="BSD-3-Clause",
    packages=find_packages(include=["robustsk", "robustsk.*"]),
    package_data={"robustsk": ["py.typed"], "robustsk.data": ["digits01.csv"]},
    python_requires=">=3.10",
    install_requires=[
        # A normal range for users; CI pins torch==2.13.0 (the CPU build) itself.
        "torch>=2.1",
        "skorch>=1.0",
        "scikit-learn>=1.6",
        "numpy>=1.24",
        "scipy>=1.10",
        "pandas>=2.0",
        "statsmodels>=0.14",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        # robustsk.io: models saved and loaded without pickle
        "safetensors>=0.4",
        "skops>=0.10",
    ],
    extras_require={
        # rpy2 3.6.x needs R >= 4.3 (R_getVar); 3.5.17 works with Debian's R 4.2.
        "r": ["rpy2>=3.5.17,<3.6"],
        "notebooks": ["nbformat>=5.9", "nbclient>=0.9", "ipykernel>=6.25", "jupyter_client>=8"],
        # the exact SDP certificate (robustsk.certify.sdp.certify_sdp_exact)
        "certify": ["cvxpy>=1.5", "scs>=3.2", "clarabel>=0.7"],
        # the internal-Wasserstein attack and defense (robustsk.attacks.IWD)
        "ot": ["geomloss>=0.3"],
        # the documentation site (docs/; tests/test_docs_site.py builds it); nbsphinx
        # needs pandoc (the Debian package) for the notebooks' Markdown
        "docs": ["sphinx>=8", "numpydoc>=1.8", "pydata-sphinx-theme>=0.16", "nbsphinx>=0.9.5"],
        # grid search / cross-validation on a Dask cluster (joblib's Dask backend)
        "dask": ["dask[distributed]>=2024.1"],
        # data-parallel training through skorch's AccelerateMixin (robustsk.distributed)
        "accelerate": ["accelerate>=0.26"],
        "dev": ["pytest>=7.4", "hypothesis>=6.80", "pytest-timeout>=2.2", "pytest-xdist>=3.0", "ruff>=0.6"],
    },
    entry_points={"console_scripts": ["robustsk = robustsk.report:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Intended Audience :: Science/Research",
    ],
)
