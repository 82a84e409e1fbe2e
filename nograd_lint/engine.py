"""The lint engine: source text in, findings out.

Per file: a textual pre-filter (a rule can only fire where one of its trigger strings occurs, so
files without any are never parsed), one libcst parse, one traversal that feeds every enabled
rule, positions computed only when something was reported, then ``# noqa`` filtering.
Many files are linted in parallel worker processes; results come back in a stable order.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from nograd_lint import libcst as cst

from nograd_lint.config import Config
from nograd_lint.context import ModuleContext
from nograd_lint.model.scopes import SemanticModel
from nograd_lint.positions import Anchor, Statements, is_statement, locate, statement_anchors
from nograd_lint.noqa import ignores_file, is_suppressed, suppressions
from nograd_lint.project import Project, Screened, content_digest
from nograd_lint.project.cache import Cache
from nograd_lint.project.results import load_findings, result_key, store_findings
from nograd_lint.rule import Finding, Rule
from nograd_lint.rules import PARSE_ERROR, RULES
from nograd_lint.screen import ANY_CALLERS, FeatureBounds, features
from nograd_lint.tree import children, parse_module
from nograd_lint.vocabulary import LEAF_EVIDENCE, Grad, bound_parameters


@dataclass
class Analysis:
    """The parsed module (None when it was not parsed) and its findings, for linting and fixing."""

    module: cst.Module | None
    findings: list[Finding]


@dataclass
class FileResult:
    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # an I/O problem reading (or, with --fix, writing) the file
    analysed: bool = True  # False when the file could not even be read


def lint_source(source: str | bytes, path: str = "<stdin>", config: Config = Config(), *,
                honor_noqa: bool = True, report_parse_errors: bool = True,
                callers: Mapping[str, Grad] = {}) -> list[Finding]:
    """Lint one file's text.  ``bytes`` are decoded as Python does (PEP 263 cookie, BOM).
    ``callers``: the project index's grad mode of the module's functions' call sites in other
    files (``Project.callers``)."""
    return analyze(source, path, config, honor_noqa=honor_noqa,
                   report_parse_errors=report_parse_errors, callers=callers).findings


# Python allows blanks, line continuations and (inside brackets) comments after a '.' and
# before a '(': ``x. data``, ``eval (``.
_GAP = r"(?:[\s\\]|#[^\n]*\n)*"


class _Trigger(NamedTuple):
    """A trigger string such as ``.data`` or ``eval(``, found however it is spaced."""

    literal: str | bytes  # as written: the common case, and a fast substring test
    word: str | bytes  # the identifier in it: without it, no spacing can match
    spaced: re.Pattern | None  # with the blanks Python allows around the punctuation

    @classmethod
    def of(cls, text: str, as_bytes: bool) -> _Trigger:
        word = text.strip(".(")
        spaced = None
        if word != text:
            spaced = (r"\." + _GAP if text.startswith(".") else "") + re.escape(word) + (
                _GAP + r"\(" if text.endswith("(") else "")
        encode = str.encode if as_bytes else str
        return cls(encode(text), encode(word),
                   re.compile(encode(spaced)) if spaced is not None else None)

    def found_in(self, source: str | bytes) -> bool:
        return self.literal in source or self.spaced is not None and self.word in source \
            and self.spaced.search(source) is not None


@functools.lru_cache(maxsize=64)
def _triggers(codes: frozenset[str], config: Config, as_bytes: bool):
    """Per rule its triggers, and the text every rule needs: torch, or a module configured to
    stand for it (a file that never mentions torch cannot misuse it)."""
    encode = str.encode if as_bytes else str
    markers = tuple(encode(m) for m in ("torch", *config.torch_modules))
    rules = [(RULES[code], tuple(_Trigger.of(t, as_bytes) for t in RULES[code].trigger_strings(config)))
             for code in sorted(codes)]
    return markers, rules


def triggered_rules(source: str | bytes, codes: frozenset[str], config: Config,
                    callers: Mapping[str, Grad] = {}) -> list[type[Rule]]:
    """The enabled rules whose trigger strings occur in ``source``: the sound pre-filter.
    Leaves that callers in other files pass in (``Callers.parameters``) are leaf evidence
    the text need not show, nor torch."""
    if not config.prefilter:
        return [RULES[code] for code in sorted(codes)]
    markers, rules = _triggers(codes, config, isinstance(source, bytes))
    passed = bool(bound_parameters(callers))
    if not passed and not any(marker in source for marker in markers):
        return []
    return [rule for rule, triggers in rules if any(t.found_in(source) for t in triggers)
            or passed and rule.triggers == LEAF_EVIDENCE]


def screened_rules(source: bytes, tree: ast.Module, path: str, config: Config
                   ) -> tuple[tuple[str, ...], tuple[Anchor, ...], bool] | None:
    """The codes of the enabled rules that can report in ``source`` (parsed: ``tree``),
    whatever the callers in other files, and where its statements start if there are any
    (to place findings); None when that depends on the callers (or analyze() decides before
    its screen).  The third: True where that holds only for callers that pass no leaf to
    the module's functions (``Callers.parameters``; the project then checks).  The project
    index asks while it parses the files being linted, so that the lint parses and screens
    none of them again (screen.FeatureBounds)."""
    codes = config.enabled_codes(RULES, path)
    rules = triggered_rules(source, codes, config, ANY_CALLERS)
    if not rules:
        return (), (), False
    if not config.prefilter or 0 < config.max_file_size < len(source) \
            or _long_boolean_chain(source, tree):
        return None  # what analyze() reports before its screen, it reports itself
    bounds = FeatureBounds(tree, source, path, config)
    upper = tuple(rule.code for rule in rules if rule.features <= bounds.upper)
    if not upper:
        return (), (), False
    # With no leaf passed, the text alone triggers the rules (and passed leaves add some).
    unpassed_rules = triggered_rules(source, codes, config)
    lower = bounds.lower()
    surely = {rule.code for rule in unpassed_rules if rule.features <= lower}
    if surely.issuperset(upper):
        return upper, tuple(statement_anchors(tree)), False
    unpassed = bounds.unpassed()
    upper = tuple(rule.code for rule in unpassed_rules if rule.features <= unpassed)
    if not surely.issuperset(upper):
        return None
    return upper, tuple(statement_anchors(tree)) if upper else (), True


def analyze(source: str | bytes, path: str, config: Config, *, honor_noqa: bool = True,
            report_parse_errors: bool = True, repair_legacy: bool = True,
            callers: Mapping[str, Grad] = {}, screened: Screened | None = None) -> Analysis:
    """``repair_legacy``: a file only Python 2 (or an old Python 3) parses is linted after the
    mechanical repairs of ``legacy.py``, and never fixed.  ``callers``: as for lint_source.
    ``screened``: what screened_rules() found for this very source, if it decided."""
    codes = config.enabled_codes(RULES, path)
    rules = triggered_rules(source, codes, config, callers)
    if not rules or honor_noqa and ignores_file(source):
        return Analysis(None, [])
    report_parse_errors = report_parse_errors and PARSE_ERROR.code in codes
    if 0 < config.max_file_size < len(source):
        return Analysis(None, [_too_large(path, len(source), config)] if report_parse_errors else [])
    if screened is not None:
        # The project index parsed it with CPython's parser and screened it.
        return _analyze_tree(source, path, config, list(screened.anchors),
                             [RULES[code] for code in screened.rules], honor_noqa,
                             report_parse_errors, callers)
    try:
        # CPython's parser first: it refuses nesting that would overflow libcst's native parser
        # (a crash, not an exception), and its statement positions place findings cheaply.
        tree: ast.Module = ast.parse(source)
    except (RecursionError, MemoryError):
        return Analysis(None, [_too_deep(path)] if report_parse_errors else [])
    except SyntaxError as error:
        if "too many nested" in str(error):
            return Analysis(None, [_too_deep(path)] if report_parse_errors else [])
        # CPython's verdict stands: libcst never sees a file Python rejects, because on one
        # its error recovery takes minutes (quadratic in a long operator chain) or crashes.
        if repair_legacy:
            from nograd_lint.legacy import analyze_repaired

            repaired = analyze_repaired(source, path, config, error, honor_noqa=honor_noqa,
                                        report_parse_errors=report_parse_errors)
            if repaired is not None:
                return repaired
        line, column = max(error.lineno or 1, 1), max(error.offset or 1, 1)
        found = [_parse_error(path, line, column, error.msg)]
        return Analysis(None, found if report_parse_errors else [])
    except ValueError as error:  # a NUL byte (Python 3.11)
        found = [_parse_error(path, 1, 1, f"cannot read source: {error}")]
        return Analysis(None, found if report_parse_errors else [])
    if _long_boolean_chain(source, tree):
        return Analysis(None, [_too_deep(path)] if report_parse_errors else [])
    if config.prefilter:
        present = features(tree, source, path, config, callers)
        rules = [rule for rule in rules if rule.features <= present]
        if not rules:
            return Analysis(None, [])
    return _analyze_tree(source, path, config, tree, rules, honor_noqa, report_parse_errors,
                         callers)


def _analyze_tree(source: str | bytes, path: str, config: Config,
                  tree: ast.Module | list[Anchor], rules: list[type[Rule]], honor_noqa: bool,
                  report_parse_errors: bool, callers: Mapping[str, Grad]) -> Analysis:
    """Run ``rules`` on the libcst tree of ``source``; ``tree`` is its ``ast``, or where the
    statements of it start (positions.py)."""
    try:
        module = parse_module(source)
    except cst.ParserSyntaxError as error:
        found = [_parse_error(path, error.raw_line, error.raw_column + 1, error.message)]
        return Analysis(None, found if report_parse_errors else [])
    except RecursionError:
        return Analysis(None, [_too_deep(path)] if report_parse_errors else [])
    except (UnicodeError, LookupError, SyntaxError, ValueError) as error:
        # Undecodable bytes, an unknown coding cookie, a NUL byte...
        found = [_parse_error(path, 1, 1, f"cannot read source: {error}")]
        return Analysis(None, found if report_parse_errors else [])

    context = ModuleContext(path, config, module, callers=callers)
    analyses = context.build(layer for rule in rules for layer in rule.needs)
    instances = [rule(context) for rule in rules]
    statements = _Walker(context.model, [*analyses, *instances]).walk(module)
    for instance in instances:
        instance.finish()
    if not context.reports:
        return Analysis(module, [])

    text = source if isinstance(source, str) else source.decode(module.encoding, "replace")
    anchors = statement_anchors(tree) if isinstance(tree, ast.Module) else tree
    places = locate(module, text, anchors, [report.node for report in context.reports],
                    statements)
    findings = []
    for report in context.reports:
        line, column = places[report.node]
        findings.append(Finding(path, line, column + 1, report.code, report.message, report.fix))
    if honor_noqa:
        codes_by_line = suppressions(text)
        findings = [f for f in findings if not is_suppressed(codes_by_line, f.line, f.code)]
    findings.sort(key=lambda f: f.sort_key)
    return Analysis(module, findings)


#: CPython keeps ``a and b and c`` flat, libcst nests it: one level per operand, and its
#: native parser overflows the stack (a segfault) at about 7,500 operands.
MAX_BOOLEAN_CHAIN = 1000
_BOOLEAN_WORDS = {str: re.compile(r"\b(?:and|or)\b"), bytes: re.compile(rb"\b(?:and|or)\b")}


def _long_boolean_chain(source: str | bytes, tree: ast.Module) -> bool:
    """Whether libcst would nest ``and``/``or`` operands deeper than MAX_BOOLEAN_CHAIN.  The
    tree is walked only for the rare file with that many ``and``/``or`` words at all."""
    words = _BOOLEAN_WORDS[type(source)].findall(source)
    if len(words) < MAX_BOOLEAN_CHAIN:
        return False
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.BoolOp):
            depth += len(node.values) - 1
            if depth >= MAX_BOOLEAN_CHAIN:
                return True
        stack.extend((child, depth) for child in ast.iter_child_nodes(node))
    return False


def _too_deep(path: str) -> Finding:
    return _parse_error(path, 1, 1, "code is nested too deeply to analyse")


def _too_large(path: str, size: int, config: Config) -> Finding:
    return Finding(path, 1, 1, PARSE_ERROR.code,
                   f"file not checked: {size:,} bytes is over max-file-size ({config.max_file_size:,}"
                   " bytes); raise it with --max-file-size or in [tool.nograd-lint] (0: no limit)")


def _parse_error(path: str, line: int, column: int, detail: str) -> Finding:
    detail = " ".join(str(detail).split())
    return Finding(path, line, column, PARSE_ERROR.code, f"{PARSE_ERROR.message}: {detail}")


class _Walker:
    """One traversal for all rules: each node goes to the rules that have a method for it.

    Iterative, so deep nesting cannot overflow the stack, and read-only (see ``tree.py``).
    Method tables are built once per visitor class, not per file.
    """

    _tables: dict[type, tuple[dict[str, str], dict[str, str]]] = {}

    def __init__(self, model: SemanticModel, visitors: Sequence[object]) -> None:
        self._model = model
        self._by_name_visit: dict[str, list[Callable]] = {}
        self._by_name_leave: dict[str, list[Callable]] = {}
        # The model sees a node before every other visitor and lets go of it after them all.
        for visitor in (model, *visitors):
            visits, _ = self._table(type(visitor))
            for node_name, method in visits.items():
                self._by_name_visit.setdefault(node_name, []).append(getattr(visitor, method))
        for visitor in (*visitors, model):
            _, leaves = self._table(type(visitor))
            for node_name, method in leaves.items():
                self._by_name_leave.setdefault(node_name, []).append(getattr(visitor, method))

    @classmethod
    def _table(cls, visitor_type: type) -> tuple[dict[str, str], dict[str, str]]:
        table = cls._tables.get(visitor_type)
        if table is None:
            names = dir(visitor_type)
            table = ({n[6:]: n for n in names if n.startswith("visit_")},
                     {n[6:]: n for n in names if n.startswith("leave_")})
            cls._tables[visitor_type] = table
        return table

    def walk(self, root: cst.CSTNode) -> Statements:
        """Visit every node; return the statements met, for positions.py (whose own walk
        would cost a second traversal of every file with a finding).  Keeps the model's
        pre-order index current for the visitors that run: it numbers the nodes some visitor
        sees (the others need none, and counting them would cost every node)."""
        model = self._model
        index = -1
        methods_for: dict[type, tuple[list[Callable], list[Callable], bool]] = {}
        statements: list[cst.CSTNode] = []
        owner: dict[int, int] = {}
        current = -1  # the index of the innermost statement around, in ``statements``
        stack: list = [root]
        while stack:
            node = stack.pop()
            node_type = type(node)
            if node_type is _Leave:
                if node.methods:
                    model.index = index
                    for method in node.methods:
                        method(node.node)
                current = node.owner
                continue
            methods = methods_for.get(node_type)
            if methods is None:
                methods = methods_for[node_type] = (
                    self._by_name_visit.get(node_type.__name__, []),
                    self._by_name_leave.get(node_type.__name__, []), is_statement(node_type))
            visits, leaves, statement = methods
            if statement:
                stack.append(_Leave(node, leaves, current))
                current = len(statements)
                statements.append(node)
            elif leaves:  # most node types have none: no leave entry to push and pop
                stack.append(_Leave(node, leaves, current))
            owner[id(node)] = current
            if visits:
                index += 1
                model.index = index
                for method in visits:
                    method(node)
            kids = children(node)
            kids.reverse()
            stack.extend(kids)
        model.index = index
        return Statements(statements, owner)


class _Leave:
    """A stack entry of :meth:`_Walker.walk`: call ``methods`` on ``node``, its subtree done,
    and go back to the statement ``owner``."""

    __slots__ = ("node", "methods", "owner")

    def __init__(self, node: cst.CSTNode, methods: list[Callable], owner: int) -> None:
        self.node, self.methods, self.owner = node, methods, owner


# ----------------------------------------------------------------------------- many files


def lint_file(path: str, config: Config, callers: Mapping[str, Grad] = {},
              cache: Cache | None = None, screened: Screened | None = None) -> FileResult:
    """Lint the file at ``path``; with a ``cache``, reuse the findings of a run that saw the
    same content, configuration and callers (project/results.py).  ``screened``: what the
    project index's screen decided for the file (``Project.screened``)."""
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
        if screened is not None and screened.digest != content_digest(source):
            screened = None  # changed since the index read it
        if screened is not None and not screened.rules:
            findings = []
        else:
            findings = analyze(source, path, config, callers=callers,
                               screened=screened).findings
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
                      project.screened.get(path)) for path in paths]


class _Callers(NamedTuple):
    """What a worker needs of the project index for its files."""

    callers: dict[str, Mapping[str, Grad]]
    cache: Cache | None
    screened: dict[str, Screened]  # path -> as Project.screened

    @classmethod
    def of(cls, project: Project | None, paths: Sequence[str]) -> _Callers:
        if project is None:
            return cls({}, None, {})
        screened = {path: project.screened[os.path.abspath(path)] for path in paths
                    if os.path.abspath(path) in project.screened}
        return cls({path: project.callers(path) for path in paths}, project.cache, screened)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def lint_paths(paths: Sequence[str], config: Config, jobs: int | None = None,
               progress: Callable[[int], None] | None = None,
               project: Project | None = None) -> list[FileResult]:
    """Lint ``paths`` (files), in parallel when it pays; results sorted by path.  ``progress``
    is told how many files are done, as they finish; ``project``: the index the files'
    callers are read from, and its cache."""
    jobs = default_jobs() if jobs is None else max(jobs, 1)
    progress = progress or (lambda done: None)
    if jobs == 1 or len(paths) <= jobs:
        results = []
        work = _Callers.of(project, paths)
        for path in paths:
            results += _lint_chunk([path], config, work)
            progress(len(results))
    else:
        # Big files first so that no worker is left with a large file at the end.
        ordered = sorted(paths, key=_size, reverse=True)
        chunk = max(1, min(32, len(ordered) // (jobs * 8)))
        results, lost = _lint_in_pool(ordered, config, project, jobs, chunk,
                                      in_flight=2 * jobs, progress=progress)
        if lost:
            # A worker died holding these files (killed, out of memory, a crash in the native
            # parser).  Each is linted again alone in a fresh worker: a file that kills it again
            # is named, and the others still get their findings.
            retried, crashed = _lint_in_pool(lost, config, project, 1, 1, in_flight=1,
                                             progress=lambda done: progress(len(results) + done))
            results += retried
            results += [FileResult(path, error=f"{path}: not linted: the worker process linting "
                                   "it crashed", analysed=False) for path in crashed]
    results.sort(key=lambda r: r.path)
    return results


def _lint_in_pool(paths: list[str], config: Config, project: Project | None, jobs: int,
                  chunk: int, *, in_flight: int,
                  progress: Callable[[int], None]) -> tuple[list[FileResult], list[str]]:
    """Lint ``paths`` in ``jobs`` worker processes, ``chunk`` files per task, at most
    ``in_flight`` tasks handed out at a time.  Returns the results and the files of the tasks
    that were out when a worker died (a dead worker breaks the whole pool); the tasks not yet
    handed out then go to a fresh pool."""
    # Imported here: one file or --jobs 1 needs no processes, and start-up counts.
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pending = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    pending.reverse()  # popped from the end: biggest files first
    results: list[FileResult] = []
    lost: list[str] = []
    while pending:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            out: dict[Future, list[str]] = {}
            try:
                while pending or out:
                    while pending and len(out) < in_flight:
                        future = pool.submit(_lint_chunk, pending[-1], config,
                                             _Callers.of(project, pending[-1]))
                        out[future] = pending.pop()  # only once submitted: a broken pool refuses
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
    return results, lost


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
