"""Fixtures for the poisoning tests."""
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """One BLAS thread: the many tiny scikit-learn refits are slowed tenfold by
    oversubscription when other processes share the two cores."""
    with threadpool_limits(limits=1):
        yield
