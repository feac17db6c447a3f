"""Keep BLAS single-threaded around implicit's own thread pool (it warns otherwise)."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def limit_threads(blas_threads: int = 1):
    import scipy.linalg  # noqa: F401  (load every BLAS first: limits only reach loaded ones)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads, user_api="blas"):
        yield


_CONTROLLER = None


@contextmanager
def request_blas(n_users: int):
    """One-user scoring is a memory-bound matrix-vector product: extra BLAS threads only add
    synchronisation (measured 2.6 ms single-threaded vs 11.7 ms with 2 threads at 100k items
    on a busy 2-core machine). Batches keep every thread."""
    global _CONTROLLER
    if n_users > 8:
        yield
        return
    if _CONTROLLER is None:
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield
