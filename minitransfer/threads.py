"""How many threads NumPy's BLAS may use: ``set_num_threads`` / ``get_num_threads``, as in PyTorch.

Every matrix product goes to a BLAS library (OpenBLAS in NumPy's wheels), which splits it over
a pool of threads, one per core by default. This package's matrices are small (a 784-128-10
network, batches of 1 to 256): splitting them gains little, and when another process holds
one of the cores, every product waits for the second thread. The default, one thread, was
measured against two on the 2-core development machine, shared with other jobs
(``benchmarks/bench_threads.py``, four sessions; the tables are in README, "Threads"): the main
job took a median 17.6 s with one thread and 38.5 s with two, slower with two in all 12 paired
runs (1.07× to 4.5×); a training step was at best 15% faster with two threads (batch 256, the
other core free) and at worst 14× slower (batch 64, the other core busy). The default does
not grow with the number of cores: the matrices are as small on a larger machine.

The limit is process-wide and set once, when a command or a lesson starts (``apply_default``);
it is never switched around single operations (finding the libraries takes about 1 ms, each
switch tens of microseconds). ``import minitransfer`` changes nothing: a program that imports
the package keeps NumPy's own thread count until it calls ``set_num_threads``. threadpoolctl,
imported inside the functions, does the work: it finds the BLAS and OpenMP libraries loaded in
this process and calls each one's own setter.
"""

import numbers
import os

DEFAULT_THREADS = 1  # measured: README, "Threads"
ENVIRONMENT_VARIABLE = "MINITRANSFER_THREADS"

_controller = None  # the threadpoolctl controller of the last set_num_threads, kept


def check_num_threads(n, what="set_num_threads: n"):
    """``n`` as an int, or a TypeError / ValueError naming ``what``, the expected and the received."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):  # NumPy's ints are Integral
        raise TypeError(f"{what} must be a positive integer (the number of threads), got "
                        f"{n!r} ({type(n).__name__})")
    if n < 1:
        raise ValueError(f"{what} must be a positive integer (the number of threads), got {n}")
    return int(n)


def set_num_threads(n):
    """Let every BLAS and OpenMP thread pool loaded in this process use ``n`` threads.

    Like ``torch.set_num_threads``: process-wide, until the next call. Libraries loaded after
    the call (PyTorch's OpenMP, imported later) keep their own count; call again after
    importing them.
    """
    global _controller
    n = check_num_threads(n)
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()  # finds the libraries loaded now (about 1 ms)
    controller.limit(limits=n)  # not used as a context manager: the limit stays
    _controller = controller


def get_num_threads():
    """The number of threads NumPy's BLAS uses now (the largest, if several BLAS are loaded).

    Read from the libraries themselves, so it also reports a count set by environment
    variables (``OMP_NUM_THREADS``) or by another library. 1 when no threaded BLAS is loaded.
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    counts = [lib.num_threads for lib in _controller.select(user_api="blas").lib_controllers]
    return max(counts, default=1)


def default_num_threads():
    """The thread count a command or lesson starts with: $MINITRANSFER_THREADS, else one."""
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if text is None or not text.strip():
        return DEFAULT_THREADS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be a positive integer (the number of "
                         f"threads), got {text!r}")
    return value


def apply_default():
    """Set the default thread count (``default_num_threads()``) and return it."""
    n = default_num_threads()
    set_num_threads(n)
    return n
