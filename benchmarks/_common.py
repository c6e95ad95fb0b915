"""Shared helpers of the benchmarks: thread settings, BLAS report, timing.

Import this module *before* NumPy (``set_threads`` must run first): OpenBLAS, MKL and OpenMP
read their thread counts once, when the library loads.
"""

import os
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SLOWING_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def set_threads(threads):
    """Fix the BLAS thread count for NumPy (and PyTorch's own pool, see ``torch_threads``)."""
    if "numpy" in sys.modules:
        raise RuntimeError("set_threads must run before NumPy is imported")
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    # Keep the repository importable when the package is not installed.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)


def default_threads():
    """The package's thread policy (``minitransfer.threads.default_num_threads``): one thread, or
    $MINITRANSFER_THREADS. Read here without importing minitransfer, which would load NumPy
    before ``set_threads`` could run."""
    text = os.environ.get("MINITRANSFER_THREADS", "").strip()
    return int(text) if text else 1


def add_thread_option(parser, default=None):
    default = default_threads() if default is None else default
    parser.add_argument("--threads", type=int, default=default,
                        help=f"BLAS/OpenMP threads for NumPy and PyTorch (default {default})")


def blas_report():
    """One line per BLAS library NumPy loaded: kernel (core type), threads, version."""
    import numpy as np

    lines = [f"numpy {np.__version__}"]
    try:
        from threadpoolctl import threadpool_info  # a dependency of minitransfer since issue 20
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(f"BLAS {info.get('internal_api')} {info.get('version')}, kernel "
                             f"{info.get('architecture')}, {info.get('num_threads')} threads "
                             f"({os.path.basename(info.get('filepath', ''))})")
    else:
        lines.append("BLAS: install threadpoolctl to see the kernel and thread count "
                     "(numpy.show_runtime() uses it too)")
    for name in SLOWING_VARIABLES:
        if name in os.environ:
            lines.append(f"warning: {name}={os.environ[name]} is set; it slows a current NumPy. "
                         f"Run with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...")
    return lines


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
