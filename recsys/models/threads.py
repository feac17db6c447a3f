"""Keep BLAS single-threaded around implicit's own thread pool (it warns otherwise)."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def limit_threads(blas_threads: int = 1):
    import scipy.linalg  # noqa: F401  (load every BLAS first: limits only reach loaded ones)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        yield
