"""The project index: facts about every module of the project the linted files live in, so
that the analysis of one file can use what other files say about it.

    project = open_project(["src/pkg/b.py"], config)   # indexes the whole project around it
    project.callers("src/pkg/b.py")                      # {"helper": Grad.DISABLED, ...}

The project is the nearest directory at or above a linted path that holds a
``pyproject.toml``, a ``setup.cfg`` or a ``.git``; every Python file in it is indexed, skipping
what the linter skips (the default excludes and ``exclude``), so that pre-commit, which names
only the changed files, still sees their callers.  A path outside any project is indexed alone
(a directory with the files in it).  The cache goes in the first project's root; outside
a project, only where ``cache_dir`` (or ``cache-dir``) says.  A file that never mentions torch
is indexed too where it names a function or class defined in one that does (read from their
text, in the same pass): its calls still decide whether that function runs with gradients;
and where an indexed file imports from it or calls into it (after that pass, from the facts):
what the callers pass its functions decides whether a rule reports in it.
Each file's facts (facts.py) are read from CPython's ``ast`` (indexer.py) and cached on disk
by content hash (cache.py); the facts of all files are joined in callers.py.
While it has a linted file's tree, the index also runs the screen on it (``screen``), so that
the lint parses again no file the screen decides for whatever its callers (``screened``); where
the index parses in this process, it keeps the tree and screen of a file the screen leaves to
its callers (``unsettled``), which the lint settles once it knows them.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Optional, Union

from nograd_lint.config import Config
from nograd_lint.files import discover
from nograd_lint.model.names import torch_aliases
from nograd_lint.project.cache import DEFAULT_DIRECTORY, Cache, digest
from nograd_lint.project.callers import CallerIndex
from nograd_lint.project.facts import ModuleFacts
from nograd_lint.project.indexer import index_module
from nograd_lint.vocabulary import Callers
from nograd_lint.workers import Workers

__all__ = ["ModuleFacts", "Project", "Screen", "Screened", "Unsettled", "content_digest",
           "open_project", "project_root"]

_MARKERS = ("pyproject.toml", "setup.cfg", ".git")
# Identifiers, non-ASCII ones whole (their UTF-8 bytes), and the names ``def``/``class``
# statements define (also in strings, comments and after other letters, so a superset; two
# patterns with a literal start, which the regular expression engine searches for fast).
_NAME = rb"[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*"
_GAP = rb"(?:[ \t\f]|\\\r?\n)"
_IDENTIFIER = re.compile(_NAME)
_DEFINED = (re.compile(rb"def%s+(%s)%s*[(\[]" % (_GAP, _NAME, _GAP)),
            re.compile(rb"class%s+(%s)%s*[(\[:]" % (_GAP, _NAME, _GAP)))
#: From this many files to parse, worker processes index them: forked, they cost about as
#: much CPU time as they save (bench/index_speed.py), and the wall time is shared out.
_POOL_THRESHOLD = 100
#: The most source text whose trees the index keeps for the lint (``Unsettled``): a tree takes
#: some 20 times its text in memory.
_UNSETTLED_BYTES = 4 << 20


def project_root(path: str) -> str | None:
    """The nearest directory at or above ``path`` with a project marker, if any."""
    here = os.path.abspath(path)
    if not os.path.isdir(here):
        here = os.path.dirname(here)
    while True:
        if any(os.path.exists(os.path.join(here, marker)) for marker in _MARKERS):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def module_name(path: str, root: str) -> tuple[str, bool]:
    """``pkg.train`` for ``<root>/pkg/train.py``; ``pkg`` (a package) for its
    ``__init__.py``."""
    relative = os.path.relpath(os.path.abspath(path), root)
    if relative.startswith(os.pardir):
        relative = os.path.basename(path)
    parts = relative[:-3].split(os.sep) if relative.endswith(".py") else relative.split(os.sep)
    package = parts[-1] == "__init__" and len(parts) > 1
    if package:
        parts.pop()
    return ".".join(parts), package


class Screened(NamedTuple):
    """What the screen decided for a linted file, whatever its callers (see open_project's
    ``screen``)."""

    digest: str  # of the content screened
    rules: tuple[str, ...]  # the codes of the rules that can report in it: none, a quiet file
    anchors: tuple  # where its statements start, if a rule can (positions.statement_anchors)
    # Decided only for callers that pass the module's functions no leaf (Callers.parameters
    # is a caller-dependent fact the index knows only once all files are read).
    if_no_leaf_passed: bool


class Unsettled(NamedTuple):
    """A linted file the screen left to its callers, as the index parsed and screened it: the
    lint settles that screen under the callers instead of parsing and walking it again.  Kept
    in memory only (a tree is too large to send to a worker)."""

    digest: str  # of the content parsed
    tree: ast.Module
    screen: object  # what ``Screen`` returned for it, a screen.FeatureBounds


@dataclass
class Project:
    """The index of the projects around a run's files, and the cache it was read through."""

    index: CallerIndex
    roots: dict[str, str]  # file (absolute) -> its module name
    cache: Cache | None = None
    warnings: list[str] = field(default_factory=list)
    # Linted files the screen decided for, whatever their callers: absolute path -> Screened.
    screened: dict[str, Screened] = field(default_factory=dict)
    # Linted files it left to their callers, where the index parsed them in this process.
    unsettled: dict[str, Unsettled] = field(default_factory=dict)

    def callers(self, path: str) -> Callers:
        """Per module-level function or method of ``path``: the grad mode of its call sites
        in other files, and the parameters they bind to leaves (see callers.py)."""
        name = self.roots.get(os.path.abspath(path))
        return self.index.outside_callers(name) if name is not None else Callers()


#: ``screen(source, tree, path)``: the codes of the rules that can report in this file, whatever
#: its callers, where its statements start, and whether that holds only for callers that pass
#: it no leaf (as Screened); if that depends on them, the screen to settle once they are known
#: (Unsettled.screen), or None.  ``tree`` is None for a file without torch: the index parses
#: none it need not, and the text decides for such a file.
Screen = Callable[[bytes, Optional[ast.Module], str],
                  Union[tuple[tuple[str, ...], tuple, bool], object, None]]


class _Task(NamedTuple):
    path: str  # as discovered
    module: str
    package: bool
    source: bytes
    linted_as: str | None  # the path it is linted under in this run, if it is linted


def open_project(paths: Sequence[str], config: Config, *, cache_dir: str | None = None,
                 use_cache: bool = True, jobs: int = 1, sources: Mapping[str, bytes] = {},
                 linted: Sequence[str] = (), screen: Screen | None = None,
                 workers: Workers | None = None) -> Project:
    """Index the projects ``paths`` (files and directories being linted) live in.
    ``sources`` replaces the text of files that are not read from disk (standard input).
    ``screen`` is run on each of the ``linted`` files the index parses, under the path it is
    linted as, so that the lint need not parse again a file it decides for.  ``workers``: the
    run's worker processes (else ``jobs`` of the index's own), told to preload the lint when
    the screen leaves it more files than there are workers."""
    files, projects = _project_files(paths, config, sources)
    cache, warnings = None, []
    directory = cache_dir or config.cache_dir or (
        os.path.join(projects[0], DEFAULT_DIRECTORY) if projects else None)
    if use_cache and files and directory is not None:
        cache, warning = Cache.open(directory)
        if warning:
            warnings.append(warning)
    aliases = torch_aliases(config.torch_modules)
    markers = tuple(m.encode() for m in ("torch", *aliases))
    linted_as = {os.path.abspath(path): path for path in linted} if screen is not None else {}
    with_torch, without_torch = [], []
    for absolute, (root, path) in files.items():
        source = sources.get(path)
        if source is None:
            try:
                with open(path, "rb") as handle:
                    source = handle.read()
            except OSError:
                continue  # the lint reports it
        (with_torch if any(m in source for m in markers) else without_torch).append(
            _Task(path, *module_name(absolute, root), source, linted_as.get(absolute)))
    # A file that never mentions torch matters only where it calls a function of one that
    # does: it must name one.  (No rule reports in it either: the text filter needs torch.)
    # What the files with torch define is read from their text, a superset of what the index
    # would find in them, so that all files are indexed in one pass.
    defined = {name for task in with_torch for pattern in _DEFINED
               for name in pattern.findall(task.source)} if without_torch else set()
    tasks = [*with_torch, *(task._replace(linted_as=None) for task in without_torch
                            if not defined.isdisjoint(_IDENTIFIER.findall(task.source)))]
    if workers is not None:
        modules, screened, unsettled = _index(tasks, aliases, cache, workers, screen)
    else:
        with Workers(jobs) as own:
            modules, screened, unsettled = _index(tasks, aliases, cache, own, screen)
    indexed = {task.path for task in tasks}
    _index_called([task._replace(linted_as=None) for task in without_torch
                   if task.path not in indexed], modules, aliases, cache)
    for task in without_torch:  # the text decides for them, unless a caller passes a leaf
        decided = screen(task.source, None, task.linted_as) if task.linted_as else None
        if type(decided) is tuple:
            screened[os.path.abspath(task.path)] = Screened(content_digest(task.source), *decided)
    index = CallerIndex(m for m in modules.values() if m is not None)
    names = {os.path.abspath(path): m.name for path, m in modules.items() if m is not None}
    # Where the screen assumed that no caller passes a leaf, the index now knows.
    screened = {path: decided for path, decided in screened.items() if not (
        decided.if_no_leaf_passed and path in names
        and index.outside_callers(names[path]).parameters)}
    return Project(index, names, cache, warnings, screened, unsettled)


def _index_called(rest: list[_Task], modules: dict[str, ModuleFacts | None],
                  aliases: tuple[str, ...], cache: Cache | None) -> None:
    """Add to ``modules`` the facts of the files of ``rest`` (without torch, not indexed) that
    an indexed module imports from or calls into, which their text cannot tell: a caller names
    the module (a component of a name it imports or calls is the module's last name).  Few
    such files: indexed here, until no more are named."""
    referenced: set[str] = set()
    new: Iterable[ModuleFacts | None] = modules.values()
    while rest:
        for facts in new:
            if facts is not None:
                referenced.update(*(target.split(".") for target in _targets(facts)))
        found = [task for task in rest if task.module.rpartition(".")[2] in referenced]
        if not found:
            return
        rest = [task for task in rest if task not in found]
        more, _, _ = _index(found, aliases, cache, Workers(1), None)  # one batch, no fork
        modules.update(more)
        new = more.values()


def _targets(facts: ModuleFacts) -> Iterator[str]:
    """The qualified names a module imports and calls (``pkg.helpers.init_``)."""
    yield from (target for _, target in facts.exports)
    yield from (call.callee for call in facts.calls)
    yield from facts.star_imports


def _project_files(paths: Sequence[str], config: Config, sources: Mapping[str, bytes]
                   ) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """The files to index (absolute path -> (its root, the path as discovered)), and the
    project roots found (where the cache goes)."""
    files: dict[str, tuple[str, str]] = {}
    roots: list[str] = []
    projects: list[str] = []
    for path in paths:
        root = project_root(path)
        if root is not None and root not in projects:
            projects.append(root)
        if root is None:
            root = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
            found = discover([path], config).files
        else:
            found = discover([root], config).files if root not in roots else []
            if os.path.isfile(path) or path in sources:
                found.append(path)
        if root not in roots:
            roots.append(root)
        for file in found:
            files.setdefault(os.path.abspath(file), (root, file))
    for path in sources:
        files.setdefault(os.path.abspath(path), (roots[0] if roots else os.getcwd(), path))
    return files, projects


def content_digest(source: bytes) -> str:
    """What tells, within a run, whether a file changed since the index read it."""
    return hashlib.sha256(source).hexdigest()


def _index(tasks: list[_Task], aliases: tuple[str, ...], cache: Cache | None,
           workers: Workers, screen: Screen | None
           ) -> tuple[dict[str, ModuleFacts | None], dict[str, Screened], dict[str, Unsettled]]:
    """Each file's facts: from the cache where its content was seen before, else parsed (in
    worker processes when there are many); what the screen decided of those parsed; and, when
    they were parsed here, the trees and screens of those it left to their callers."""
    found: dict[str, ModuleFacts | None] = {}
    screened: dict[str, Screened] = {}
    unsettled: dict[str, Unsettled] = {}
    missing = []
    for task in tasks:
        key = digest((repr(aliases), task.module, str(task.package), task.source)) \
            if cache is not None else None
        plain = cache.load("index", key) if key is not None else None
        facts = _from_plain(plain)
        if facts is not None or plain == ():  # () records a file that does not parse
            found[task.path] = facts
        else:
            missing.append((task, key))
    batches = [missing]
    if workers.jobs > 1 and len(missing) >= _POOL_THRESHOLD:
        # Dealt out largest first, so that the batches cost about the same and no worker
        # is left alone with a batch of large files at the end.
        missing.sort(key=lambda item: len(item[0].source), reverse=True)
        count = workers.jobs * 4
        batches = [missing[i::count] for i in range(count)]
    left_to_lint = 0
    for batch, results in zip(batches, _map(batches, aliases, screen, workers)):
        for (task, key), (plain, decided, kept) in zip(batch, results or ()):
            if cache is not None:
                cache.store("index", key, plain)
            found[task.path] = _from_plain(plain)
            if decided is not None:
                screened[os.path.abspath(task.path)] = Screened(content_digest(task.source),
                                                                *decided)
                left_to_lint += bool(decided[0])
            elif kept is not None:
                unsettled[os.path.abspath(task.path)] = Unsettled(content_digest(task.source),
                                                                  *kept)
            else:
                left_to_lint += task.linted_as is not None
    if left_to_lint > workers.jobs:  # what the lint sends to workers (runner.lint_paths)
        workers.preload()
    return found, screened, unsettled


def _map(batches: list, aliases: tuple[str, ...], screen: Screen | None, workers: Workers
         ) -> list[list | None]:
    """``_index_batch`` of each batch; None for a batch a worker died on."""
    if len(batches) == 1:
        return [_index_batch(batches[0], aliases, screen, keep=_UNSETTLED_BYTES)]
    from concurrent.futures.process import BrokenProcessPool

    pool = workers.pool()
    futures = [pool.submit(_index_batch, batch, aliases, screen) for batch in batches]
    results: list[list | None] = []
    for future in futures:
        try:
            results.append(future.result())
        except BrokenProcessPool:
            # A worker died (a crash in the native parser, out of memory): its batch and those
            # not done go unindexed, and the lint, which isolates the file that kills a
            # worker, names it.
            results.append(None)
    if None in results:
        workers.close()
    return results


def _index_batch(batch: list[tuple[_Task, str]], aliases: tuple[str, ...],
                 screen: Screen | None, keep: int = 0) -> list[tuple[tuple, tuple | None,
                                                                    tuple | None]]:
    """Per task: its facts as stored (``()`` when it does not parse), what the screen decided
    (None: not screened, or not decided), and the tree and screen of a file it left to the
    callers, while their sources add up to at most ``keep`` bytes."""
    results = []
    for task, _ in batch:
        try:
            tree = ast.parse(task.source)
            plain = index_module(tree, task.module, task.package, aliases).to_plain()
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            results.append(((), None, None))  # the lint reports it (NG001)
            continue
        decided = kept = None
        if screen is not None and task.linted_as is not None:
            decided = screen(task.source, tree, task.linted_as)
            if decided is not None and type(decided) is not tuple:
                if len(task.source) <= keep:
                    kept, keep = (tree, decided), keep - len(task.source)
                decided = None
        results.append((plain, decided, kept))
    return results


def _from_plain(plain) -> ModuleFacts | None:
    if not plain:
        return None
    try:
        return ModuleFacts.from_plain(plain)
    except (TypeError, ValueError):  # an entry of another shape: a miss
        return None
