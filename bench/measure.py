"""One command, one child process: wall time and that process's own peak RSS.

Why a child per command, started by GNU time: each command's peak RSS is its own. Linux
carries ru_maxrss across fork/vfork + exec, so a child forked straight from this (large)
process would report at least our own RSS; /usr/bin/time is a small C program, and the
maximum it reports (%M) is that of its own child. Without /usr/bin/time, os.wait4's
ru_maxrss is used (an upper bound: max(this process at fork, the command)).
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

TIME = ["/usr/bin/time", "-f", "%M", "-o"] if os.access("/usr/bin/time", os.X_OK) else None


@dataclass
class Sample:
    wall_s: float
    rss_mb: float
    cpu_s: float  # user + system of the command (and its children)
    rc: int
    stdout: str
    stderr: str


def _scratch_file() -> Path:
    handle, name = tempfile.mkstemp(prefix="bench-stdout-")
    os.close(handle)
    return Path(name)


def run(argv: list[str], stdout_path: Path | None = None, cwd: str | None = None,
        env: dict[str, str] | None = None, timeout_s: float = 900.0) -> Sample:
    """Run argv to completion; stdout goes to `stdout_path` (a file) or is kept as text."""
    out_path = stdout_path or _scratch_file()
    if env is None:
        # Programs are timed as installed: with their bytecode cached (the warm-up writes it).
        # A shell with PYTHONDONTWRITEBYTECODE set would make every run of the connector compile
        # its own modules again (60-100 ms a run here); site-packages were compiled at install.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    err_path = out_path.with_name(out_path.name + ".stderr")
    rss_path = out_path.with_name(out_path.name + ".rss")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        child = subprocess.Popen([*TIME, rss_path, *argv] if TIME else argv, stdout=out, stderr=err,
                                 stdin=subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True)
        # a hung command cannot hang the benchmark: kill its whole process group
        killer = threading.Timer(timeout_s, os.killpg, (child.pid, signal.SIGKILL))
        killer.start()
        _, status, usage = os.wait4(child.pid, 0)
        killer.cancel()
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024.0
    if TIME:
        words = rss_path.read_text().split()
        rss_mb = int(words[-1]) / 1024.0 if words and words[-1].isdigit() else float("nan")
        rss_path.unlink()
    stderr = err_path.read_text(errors="replace")
    err_path.unlink()
    stdout = ""
    if stdout_path is None:
        stdout = out_path.read_text(errors="replace")
        out_path.unlink()
    return Sample(wall, rss_mb, usage.ru_utime + usage.ru_stime, child.returncode, stdout, stderr)


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine spent busy (not idle/iowait), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, open("/proc/stat").readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
