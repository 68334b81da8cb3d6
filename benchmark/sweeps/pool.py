"""The local worker pool: one reusable loky pool per process, shared by sweep cells
(`benchmark.sweeps.runner`) and figure simulations (`benchmark.studies.simulations`).

Its workers ignore Ctrl-C (a terminal sends SIGINT to the whole process group; only the
parent acts on it: it records the run and stops the workers with `kill_pool`).
"""
from __future__ import annotations

import signal


def worker_pool(workers: int):
    """The process's reusable loky executor with `workers` processes (recreated only when
    that number changes)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers, initializer=ignore_ctrl_c)


def ignore_ctrl_c() -> None:
    """Initializer of the pool's workers: Ctrl-C in a terminal reaches the whole process group,
    but only the parent acts on it (it records the run, writes the CSV and stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def kill_pool(executor, *, wait: bool = False) -> None:
    """Stop the pool's workers now (after Ctrl-C, SIGTERM, SIGHUP or a failure: no orphans;
    `wait` for them when the pool broke, so its futures are settled and the next `worker_pool`
    is a fresh one); loky's manager thread may complain while it dies: silenced."""
    import threading

    previous = threading.excepthook

    def quiet(arguments):
        if arguments.thread is None or "ExecutorManager" not in arguments.thread.name:
            previous(arguments)

    threading.excepthook = quiet
    executor.shutdown(wait=wait, kill_workers=True)
