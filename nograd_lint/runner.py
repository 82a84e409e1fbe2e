"""Linting many files: each file read once, its findings cached by content, configuration and
callers, files linted in parallel worker processes when it pays, results in a stable order."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from nograd_lint import libcst as cst
from nograd_lint.config import Config
from nograd_lint.engine import analyze
from nograd_lint.project import Project, Screened, Unsettled, content_digest
from nograd_lint.project.cache import Cache
from nograd_lint.project.results import load_findings, result_key, store_findings
from nograd_lint.rule import Finding
from nograd_lint.vocabulary import Grad
from nograd_lint.workers import Workers


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # an I/O problem reading (or, with --fix, writing) the file
    analysed: bool = True  # False when the file could not even be read


def lint_file(path: str, config: Config, callers: Mapping[str, Grad] = {},
              cache: Cache | None = None, screened: Screened | None = None,
              unsettled: Unsettled | None = None) -> FileResult:
    """Lint the file at ``path``; with a ``cache``, reuse the findings of a run that saw the
    same content, configuration and callers (project/results.py).  ``screened``: what the
    project index's screen decided for the file (``Project.screened``); ``unsettled``: the
    tree and screen it left to the callers (``Project.unsettled``)."""
    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError as error:
        return unreadable(path, error)
    key = result_key(path, source, config, callers) if cache is not None else None
    if key is not None:
        cached = load_findings(cache, key, path)
        if cached is not None:
            return FileResult(path, cached)
    try:
        if screened is not None or unsettled is not None:
            read = content_digest(source)
            # Either is dropped if the file changed since the index read it.
            screened = screened if screened is not None and screened.digest == read else None
            unsettled = unsettled if unsettled is not None and unsettled.digest == read else None
        if screened is not None and not screened.rules:
            findings = []
        else:
            findings = analyze(source, path, config, callers=callers, screened=screened,
                               unsettled=unsettled).findings
    except Exception as error:  # a bug of ours must cost this file its findings, not the run
        return internal_error(path, error)
    if key is not None:
        store_findings(cache, key, findings)
    return FileResult(path, findings)


def unreadable(path: str, error: OSError) -> FileResult:
    return FileResult(path, error=f"{path}: cannot read: {error.strerror or error}", analysed=False)


def internal_error(path: str, error: Exception) -> FileResult:
    return FileResult(path, error=f"{path}: not linted: internal error ({type(error).__name__}: "
                      f"{error}); please report this", analysed=False)


def _lint_chunk(paths: list[str], config: Config, project: _Callers) -> list[FileResult]:
    return [lint_file(path, config, project.callers.get(path, {}), project.cache,
                      project.screened.get(path), project.unsettled.get(path)) for path in paths]


class _Callers(NamedTuple):
    """What a worker needs of the project index for its files."""

    callers: dict[str, Mapping[str, Grad]]
    cache: Cache | None
    screened: dict[str, Screened]  # path -> as Project.screened
    unsettled: dict[str, Unsettled]  # path -> as Project.unsettled, in this process only

    @classmethod
    def of(cls, project: Project | None, paths: Sequence[str], *,
           in_process: bool = False) -> _Callers:
        if project is None:
            return cls({}, None, {}, {})
        screened = {path: project.screened[os.path.abspath(path)] for path in paths
                    if os.path.abspath(path) in project.screened}
        unsettled = {path: project.unsettled[os.path.abspath(path)] for path in paths
                     if in_process and os.path.abspath(path) in project.unsettled}
        return cls({path: project.callers(path) for path in paths}, project.cache, screened,
                   unsettled)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def load_analysis() -> None:
    """Load libcst, which the analysis of a file the screen does not rule out needs (a worker
    preloads it: ``Workers.preload``)."""
    cst.parse_module  # an attribute read runs the lazily imported module


def lint_paths(paths: Sequence[str], config: Config, jobs: int | None = None,
               progress: Callable[[int], None] | None = None,
               project: Project | None = None, workers: Workers | None = None
               ) -> list[FileResult]:
    """Lint ``paths`` (files), in parallel when it pays; results sorted by path.  ``progress``
    is told how many files are done, as they finish; ``project``: the index the files'
    callers are read from, and its cache; ``workers``: the run's worker processes, if the
    index started them (else ``jobs`` of the lint's own)."""
    if workers is None:
        with Workers(default_jobs() if jobs is None else max(jobs, 1)) as own:
            return lint_paths(paths, config, progress=progress, project=project, workers=own)
    jobs = workers.jobs
    progress = progress or (lambda done: None)
    # What the index screened out, or kept the tree and screen of, costs less here than sent
    # to a worker (which would parse it again); the rest goes to workers if there is enough.
    rest = [path for path in paths if not _at_hand(project, path)] if jobs > 1 else []
    if len(rest) <= jobs:
        rest = []
    sent = set(rest)
    here = [path for path in paths if path not in sent]
    results: list[FileResult] = []

    def lint_here() -> Iterator[None]:  # a file a step
        work = _Callers.of(project, here, in_process=True)
        for path in here:
            results.extend(_lint_chunk([path], config, work))
            progress(len(results))
            yield

    if not rest:
        for _ in lint_here():
            pass
    else:
        if not workers.started and any(
                (screened := _screened(project, path)) is not None and screened.rules
                for path in rest):
            # A file the index screened in needs libcst (in a warm run the index screens
            # nothing): loaded once here, it is inherited by every worker forked after it.
            # (Workers the index started preloaded it.)
            load_analysis()
        # Big files first so that no worker is left with a large file at the end.
        ordered = sorted(rest, key=_size, reverse=True)
        chunk = max(1, min(32, len(ordered) // (jobs * 8)))
        # The files kept here are linted while the workers lint.
        pooled, lost = _lint_in_pool(ordered, config, project, workers, chunk,
                                     in_flight=2 * jobs, meanwhile=lint_here(),
                                     progress=lambda done: progress(len(results) + done))
        results += pooled
        if lost:
            # A worker died holding these files (killed, out of memory, a crash in the native
            # parser).  Each is linted again alone in a fresh worker: a file that kills it again
            # is named, and the others still get their findings.
            with Workers(1) as alone:
                retried, crashed = _lint_in_pool(
                    lost, config, project, alone, 1, in_flight=1,
                    progress=lambda done: progress(len(results) + done))
            results += retried
            results += [FileResult(path, error=f"{path}: not linted: the worker process linting "
                                   "it crashed", analysed=False) for path in crashed]
    results.sort(key=lambda r: r.path)
    return results


def _lint_in_pool(paths: list[str], config: Config, project: Project | None, workers: Workers,
                  chunk: int, *, in_flight: int, progress: Callable[[int], None],
                  meanwhile: Iterator[None] = iter(())) -> tuple[list[FileResult], list[str]]:
    """Lint ``paths`` in the ``workers``, ``chunk`` files per task, at most ``in_flight``
    tasks handed out at a time, taking steps of the parent's own work, ``meanwhile``, while
    none is done (all of it by the end).  Returns
    the results and the files of the tasks that were out when a worker died (a dead worker
    breaks the whole pool); the tasks not yet handed out then go to fresh workers."""
    # Imported here: one file or --jobs 1 needs no processes, and start-up counts.
    from concurrent.futures import FIRST_COMPLETED, Future, wait
    from concurrent.futures.process import BrokenProcessPool

    pending = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    pending.reverse()  # popped from the end: biggest files first
    results: list[FileResult] = []
    lost: list[str] = []
    while pending:
        pool = workers.pool()
        out: dict[Future, list[str]] = {}
        try:
            while pending or out:
                while pending and len(out) < in_flight:
                    future = pool.submit(_lint_chunk, pending[-1], config,
                                         _Callers.of(project, pending[-1]))
                    out[future] = pending.pop()  # only once submitted: a broken pool refuses
                done, _ = wait(out, timeout=0, return_when=FIRST_COMPLETED)
                if not done and next(meanwhile, _FINISHED) is _FINISHED:
                    done, _ = wait(out, return_when=FIRST_COMPLETED)
                for future in done:
                    results += future.result()
                    del out[future]
                progress(len(results))
        except BrokenProcessPool:
            wait(out)
            for future, task in out.items():
                if future.exception() is None:
                    results += future.result()
                else:
                    lost += task
            workers.close()
    for _ in meanwhile:
        pass
    return results, lost


_FINISHED = object()


def _screened(project: Project | None, path: str) -> Screened | None:
    """What the project index's screen decided for ``path``, if anything."""
    return project.screened.get(os.path.abspath(path)) if project is not None else None


def _at_hand(project: Project | None, path: str) -> bool:
    """Whether the index's screen ruled out every rule in ``path``, or kept its tree and
    screen here (``Project.unsettled``)."""
    screened = _screened(project, path)
    return (screened is not None and not screened.rules
            or project is not None and os.path.abspath(path) in project.unsettled)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
