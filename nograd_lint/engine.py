"""The lint engine: one file's source text in, findings out.

A file passes the text filter (``text_filter.py``) and CPython's parser with the screen
(``screen/``), then one libcst parse and one traversal (``walker.py``) that feeds every enabled
rule; positions are computed only when something was reported, then ``# noqa`` filtering.
Many files: ``runner.py``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass

from nograd_lint import libcst as cst

from nograd_lint.config import Config
from nograd_lint.context import ModuleContext
from nograd_lint.noqa import ignores_file, is_suppressed, suppressions
from nograd_lint.positions import Anchor, locate, statement_anchors
from nograd_lint.project import Screened, Unsettled
from nograd_lint.rule import Finding, Rule
from nograd_lint.rules import PARSE_ERROR, RULES
from nograd_lint.screen import FeatureBounds, features
from nograd_lint.text_filter import trigger_bounds, triggered_rules
from nograd_lint.tree import parse_module
from nograd_lint.vocabulary import Grad
from nograd_lint.walker import Walker


@dataclass
class Analysis:
    """The parsed module (None when it was not parsed) and its findings, for linting and fixing."""

    module: cst.Module | None
    findings: list[Finding]


def lint_source(source: str | bytes, path: str = "<stdin>", config: Config = Config(), *,
                honor_noqa: bool = True, report_parse_errors: bool = True,
                callers: Mapping[str, Grad] = {}) -> list[Finding]:
    """Lint one file's text.  ``bytes`` are decoded as Python does (PEP 263 cookie, BOM).
    ``callers``: the project index's grad mode of the module's functions' call sites in other
    files (``Project.callers``)."""
    return analyze(source, path, config, honor_noqa=honor_noqa,
                   report_parse_errors=report_parse_errors, callers=callers).findings


def screened_rules(source: bytes, tree: ast.Module | None, path: str, config: Config
                   ) -> tuple[tuple[str, ...], tuple[Anchor, ...], bool] | FeatureBounds | None:
    """The codes of the enabled rules that can report in ``source`` (parsed: ``tree``; None
    for a file the index does not parse), whatever the callers in other files, and where its
    statements start if there are any (to place findings); the third: True where that holds
    only for callers that pass no leaf to the module's functions (``Callers.parameters``; the
    project then checks).  Where it depends on the callers: the screen to settle under them
    (``analyze(unsettled=...)``), or None where analyze() decides before its screen or there
    is no tree.  The project index asks while it parses the files being linted, so that the
    lint parses and screens none of them again (screen.FeatureBounds)."""
    codes = config.enabled_codes(RULES, path)
    # With no leaf passed, the text alone triggers the rules (and passed leaves add some).
    rules, unpassed_rules = trigger_bounds(source, codes, config)
    if not rules:
        return (), (), False
    if tree is None:  # not parsed: it never mentions torch, so only passed leaves can count
        return ((), (), True) if not unpassed_rules else None
    if not config.prefilter or 0 < config.max_file_size < len(source) \
            or _long_boolean_chain(source, tree):
        return None  # what analyze() reports before its screen, it reports itself
    bounds = FeatureBounds(tree, source, path, config)
    upper = tuple(rule.code for rule in rules if rule.features <= bounds.upper)
    if not upper:
        return (), (), False
    lower = bounds.lower()
    surely = {rule.code for rule in unpassed_rules if rule.features <= lower}
    if surely.issuperset(upper):
        return upper, tuple(statement_anchors(tree)), False
    unpassed = bounds.unpassed()
    upper = tuple(rule.code for rule in unpassed_rules if rule.features <= unpassed)
    if not surely.issuperset(upper):
        return bounds
    return upper, tuple(statement_anchors(tree)) if upper else (), True


def analyze(source: str | bytes, path: str, config: Config, *, honor_noqa: bool = True,
            report_parse_errors: bool = True, repair_legacy: bool = True,
            callers: Mapping[str, Grad] = {}, screened: Screened | None = None,
            unsettled: Unsettled | None = None) -> Analysis:
    """``repair_legacy``: a file only Python 2 (or an old Python 3) parses is linted after the
    mechanical repairs of ``legacy.py``, and never fixed.  ``callers``: as for lint_source.
    ``screened``: what screened_rules() found for this very source, if it decided;
    ``unsettled``: its tree and screen, if it left the source to the callers."""
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
    if unsettled is not None:  # the project index parsed and walked it (screened_rules)
        tree, present = unsettled.tree, unsettled.screen.under(callers)
    else:
        tree = _parse_ast(source, path, config, honor_noqa, report_parse_errors, repair_legacy)
        if isinstance(tree, Analysis):
            return tree
        present = features(tree, source, path, config, callers) if config.prefilter else None
    if present is not None:
        rules = [rule for rule in rules if rule.features <= present]
        if not rules:
            return Analysis(None, [])
    return _analyze_tree(source, path, config, tree, rules, honor_noqa, report_parse_errors,
                         callers)


def _parse_ast(source: str | bytes, path: str, config: Config, honor_noqa: bool,
               report_parse_errors: bool, repair_legacy: bool) -> ast.Module | Analysis:
    """``source`` parsed by CPython's parser, or the analysis that ends there (a parse error,
    nesting too deep for libcst, or a legacy file linted after repairs)."""
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
    return tree


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
    statements = Walker(context.model, [*analyses, *instances]).walk(module)
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
