"""cnvrg entry point: python3 influxdb_connector.py --key value ... (see library.yaml)."""
import os
import sys

# Process settings for a command-line run, made before numpy and pyarrow are imported (the
# Python API leaves a notebook's process alone). Measured on 1M rows, see README Performance:
# - numpy's OpenBLAS starts a thread per core that spins while idle; no linear algebra here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# - Arrow's buffers from the C allocator, which hands freed memory back: ~30 MB lower peak RSS
#   than its default pool at the same speed.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
if sys.platform.startswith("linux"):
    # - two malloc arenas, not eight per core: the download, parse and write threads would each
    #   keep their own heap (~20 MB of peak RSS).
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-8, 2)  # M_ARENA_MAX
        # - freed blocks up to 32 MB stay in the heap for the next window instead of going back
        #   to the kernel and being faulted in and zeroed again (~0.1 s less system time).
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass

from connector.cli import main  # noqa: E402


def _leave(code: int) -> None:
    """Exit without the interpreter's teardown of numpy, pyarrow and influxdb-client (about
    45 ms at every run, measured with strace from main's return to exit_group), once the
    output is flushed and no other thread still works (cnvrgv2's, say); else a normal exit."""
    import logging
    import threading

    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (| head): nothing more to say
            pass
    os._exit(code)


if __name__ == "__main__":
    _leave(int(main() or 0))
