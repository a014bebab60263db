"""``zoadamm-service --workers N`` (N > 1): gunicorn as the process manager, uvicorn workers.

Why gunicorn rather than uvicorn's own ``--workers``: /metrics adds up every worker's samples
from files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode), and a dead
worker's live gauges must be dropped and its files not confused with a new worker's.  gunicorn
restarts a dead worker and calls ``child_exit`` in the master, where ``mark_process_dead``
does that; uvicorn's supervisor has no such hook.

prometheus-client chooses its file-backed values when it is imported, so the directory must
be in the environment before any worker imports it: ``run`` sets it, then replaces this
process with gunicorn, whose master never imports the app (workers load it after the fork).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"


def run(host: str, port: int, workers: int, log_level: str) -> None:
    """Exec gunicorn; does not return."""
    folder = os.environ.get(MULTIPROC) or tempfile.mkdtemp(prefix="zoadamm-metrics-")
    drop_dead_samples(folder)
    os.environ[MULTIPROC] = folder
    argv = [
        sys.executable, "-m", "gunicorn", "zoadamm_service.main:serve_app()",
        "--config", "python:zoadamm_service.workers",
        "--worker-class", "zoadamm_service.uvicorn_worker.Worker",
        "--workers", str(workers), "--bind", f"{host}:{port}", "--log-level", log_level,
        # idle keep-alive connections last uvicorn's 5 s, as with one process (gunicorn's own is 2 s)
        "--keep-alive", "5",
    ]
    os.execv(sys.executable, argv)


# gunicorn's settings read from this module (``--config python:zoadamm_service.workers``; a
# gunicorn without the setting ignores it).  The control socket (gunicorn 25.1+) sits at one path
# per user: a second service on the host took it over, and the first to stop removed it.
control_socket_disable = True


def drop_dead_samples(folder: str) -> None:
    """Make the samples folder, and remove the files of processes that have ended: a previous
    run's counters would be added to this one's.  Another live service's (a folder shared) stay,
    and so do this process's own (the start's checks may have made the metrics already)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        if not _written_by_another_live_process(stale) and not stale.stem.endswith(f"_{os.getpid()}"):
            stale.unlink()


def _written_by_another_live_process(samples: Path) -> bool:
    """Whether the samples file (``counter_<pid>.db``, ...) is of a live process other than this one."""
    pid = samples.stem.rsplit("_", 1)[-1]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def child_exit(server, worker) -> None:
    """gunicorn hook, in the master: a worker is gone (any exit, a kill included)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
