"""The worker processes of one run, shared by the project index and the lint.

    with Workers(jobs, preload=load_analysis) as workers:
        project = open_project(paths, config, workers=workers)   # forks them, if it pays
        results = lint_paths(files, config, project=project, workers=workers)

Forked once, when first needed: the lint reuses the processes that indexed, and while the
parent joins the index's facts, they load what the lint will need (``preload``), work that
would otherwise run in the parent between the two phases, with every worker idle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


class Workers:
    """At most ``jobs`` worker processes, started on first use; ``preload``, a picklable
    function without arguments, loads in a worker what the lint will need."""

    def __init__(self, jobs: int, preload: Callable[[], object] | None = None) -> None:
        self.jobs = jobs
        self._preload = preload
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Imported here: one file or --jobs 1 needs no processes, and start-up counts.
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=self.jobs)
        return self._pool

    def preload(self) -> None:
        """Have every started worker load what the lint will need, without waiting for it."""
        if self._pool is not None and self._preload is not None:
            for _ in range(self.jobs):  # an idle worker takes one each
                self._pool.submit(self._preload)

    def close(self) -> None:
        """Stop the workers (a dead one breaks the pool); the next ``pool()`` forks new ones."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
