"""The ``nograd-lint`` command.

Exit status: 0 no findings, 1 findings (or files that could not be read), 2 usage error or
nothing could be linted.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import os
import sys
from collections.abc import Sequence

from nograd_lint import __version__
from nograd_lint.config import Config, ConfigError, load_config, split_codes
from nograd_lint.engine import (
    FileResult, default_jobs, internal_error, lint_paths, lint_source, unreadable,
)
from nograd_lint.files import discover
from nograd_lint.formats import FORMATS, statistics
from nograd_lint.rule import Finding
from nograd_lint.rules import RULES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nograd-lint",
        description="Find grad-mode bugs in PyTorch code: evaluation without no_grad, in-place "
                    "ops on leaves, deprecated volatile.",
    )
    parser.add_argument("paths", nargs="*", help="files or directories to lint (default: .); "
                        "'-' reads standard input")
    parser.add_argument("--select", help="only these codes or prefixes, comma-separated")
    parser.add_argument("--extend-select", help="codes or prefixes to add to the selection")
    parser.add_argument("--ignore", help="codes or prefixes to leave out")
    parser.add_argument("--exclude", help="comma-separated globs of paths to skip")
    parser.add_argument("--torch-modules", help="modules that stand for torch (default: runtime)")
    parser.add_argument("--config", metavar="PYPROJECT", help="read [tool.nograd-lint] from this file")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text")
    parser.add_argument("--statistics", action="store_true", help="count findings per code")
    parser.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix or --diff, also apply fixes that may change behaviour")
    parser.add_argument("--diff", action="store_true",
                        help="print the fixes as a unified diff instead of writing them")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings")
    parser.add_argument("--no-prefilter", action="store_true",
                        help="parse every file and run every selected rule, skipping the text "
                             "and syntax-tree filters (slower; shows that they hide nothing)")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help=f"worker processes (default: all cores, here {default_jobs()})")
    parser.add_argument("--stdin-filename", help="lint standard input, reported under this name")
    parser.add_argument("--explain", metavar="CODE", help="show a rule's documentation")
    parser.add_argument("--list-rules", action="store_true", help="list every rule")
    parser.add_argument("--version", action="version", version=f"nograd-lint {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # A run builds and drops a syntax tree per file: millions of short-lived objects, none in
    # reference cycles that matter.  Leaving the imported modules out of collections (freeze)
    # and collecting young objects less often saves about a tenth of the time; worker
    # processes inherit both settings.
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except ConfigError as error:
        parser.exit(2, f"nograd-lint: error: {error}\n")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `nograd-lint . | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.explain:
        rule = RULES.get(args.explain.upper())
        if rule is None:
            raise ConfigError(f"unknown rule '{args.explain}' (see --list-rules)")
        sys.stdout.write(rule.explain())
        return 0
    if args.list_rules:
        for code, rule in sorted(RULES.items()):
            default = "on " if rule.default_enabled else "off"
            fix = rule.fix_safety.value if rule.fix_safety else "-"
            sys.stdout.write(f"{code}  {default}  fix:{fix:<6}  {rule.message}\n")
        return 0
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")

    from_stdin = args.stdin_filename is not None or args.paths == ["-"]
    if from_stdin and args.paths not in ([], ["-"]):
        raise ConfigError("'-'/--stdin-filename cannot be combined with other paths")
    paths = args.paths or ["."]
    config = _config(args, args.stdin_filename or (paths[0] if not from_stdin else "."))
    unknown = [c for c in (*(config.select or ()), *config.extend_select, *config.ignore)
               if not any(code.startswith(c) for code in RULES)]
    if unknown:
        raise ConfigError(f"unknown rule code(s): {', '.join(unknown)} (see --list-rules)")

    if from_stdin:
        return _lint_stdin(args, config)

    discovery = discover(paths, config)
    for error in discovery.errors:
        sys.stderr.write(f"nograd-lint: error: {error}\n")
    changed = False
    if args.fix or args.diff:
        outcomes = [_fix_file(path, config, args) for path in discovery.files]
        results = [result for result, _ in outcomes]
        changed = any(file_changed for _, file_changed in outcomes)
    else:
        results = lint_paths(discovery.files, config, args.jobs)
    findings = [f for result in results for f in result.findings]
    io_errors = [r.error for r in results if r.error] + discovery.errors
    for result in results:
        if result.error:
            sys.stderr.write(f"nograd-lint: error: {result.error}\n")
    if not args.diff:
        _emit(findings, args)
    linted = sum(1 for r in results if r.analysed)
    if io_errors and linted == 0:
        return 2
    if args.exit_zero:
        return 0
    if args.diff:
        return 1 if changed else 0
    return 1 if findings or io_errors else 0


def _config(args: argparse.Namespace, start: str) -> Config:
    config = _explicit_config(args.config) if args.config else load_config(start)
    select = split_codes(args.select)
    return config.merged(
        select=select,
        extend_select=config.extend_select + (split_codes(args.extend_select) or ()),
        ignore=config.ignore + (split_codes(args.ignore) or ()),
        exclude=config.exclude + tuple(p for p in (args.exclude or "").split(",") if p),
        torch_modules=tuple(m.strip() for m in args.torch_modules.split(",")) if args.torch_modules else None,
        prefilter=False if args.no_prefilter else None,
    )


def _explicit_config(path: str) -> Config:
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such configuration file")
    return load_config(path)


def _emit(findings: list[Finding], args: argparse.Namespace) -> None:
    findings = sorted(findings, key=lambda f: f.sort_key)
    sys.stdout.write(FORMATS[args.format](findings))
    if args.statistics:
        sys.stdout.write(statistics(findings))


def _lint_stdin(args: argparse.Namespace, config: Config) -> int:
    name = args.stdin_filename or "<stdin>"
    source = sys.stdin.buffer.read()
    if args.fix or args.diff:
        from nograd_lint.fix import fix_source  # its transformer class loads libcst

        result = fix_source(source, name, config, unsafe=args.unsafe_fixes)
        if args.diff:
            sys.stdout.write(_unified_diff(source, result.source, name))
            return 1 if result.source != source else 0
        sys.stdout.buffer.write(result.source)
        _report_to_stderr(result.remaining)
        if result.error:
            sys.stderr.write(f"nograd-lint: error: {result.error}\n")
        return 0 if args.exit_zero or not (result.remaining or result.error) else 1
    findings = lint_source(source, name, config)
    _emit(findings, args)
    return 0 if args.exit_zero or not findings else 1


def _report_to_stderr(findings: list[Finding]) -> None:
    for f in findings:
        sys.stderr.write(f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}\n")


def _fix_file(path: str, config: Config, args: argparse.Namespace) -> tuple[FileResult, bool]:
    """Fix one file (or print its diff); returns its result and whether fixes changed it."""
    from nograd_lint.fix import fix_source, write_atomic  # its transformer class loads libcst

    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError as error:
        return unreadable(path, error), False
    try:
        result = fix_source(source, path, config, unsafe=args.unsafe_fixes)
    except Exception as error:  # a bug of ours: this file stays as it was, the others go on
        return internal_error(path, error), False
    changed = result.source != source
    if args.diff:
        sys.stdout.write(_unified_diff(source, result.source, path))
    elif changed:
        try:
            write_atomic(path, result.source)
        except OSError as error:
            return FileResult(path, lint_source(source, path, config),
                              f"{path}: cannot write fixes: {error.strerror or error}; "
                              "file left unchanged"), False
        sys.stderr.write(f"{path}: fixed {result.fixed} finding(s)\n")
    return FileResult(path, result.remaining, result.error), changed


def _unified_diff(before: bytes, after: bytes, path: str) -> str:
    if before == after:
        return ""
    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, f"a/{path}", f"b/{path}"))
