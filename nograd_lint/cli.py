"""The ``nograd-lint`` command.

Exit status: 0 no findings, 1 findings (or files that could not be read), 2 usage error or
nothing could be linted.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import gc
import os
import sys
from collections.abc import Sequence

from nograd_lint import __version__
from nograd_lint.config import (
    Config, ConfigError, load_config, load_config_file, parse_size, split_codes,
)
from nograd_lint.engine import lint_source, screened_rules
from nograd_lint.files import discover, is_force_excluded
from nograd_lint.formats import FORMATS, statistics
from nograd_lint.project import Project, open_project
from nograd_lint.rule import Finding
from nograd_lint.rules import RULES
from nograd_lint.runner import (
    FileResult, default_jobs, internal_error, lint_paths, load_analysis, unreadable,
)
from nograd_lint.terminal import Progress, colored_text, summary, use_color
from nograd_lint.workers import Workers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nograd-lint",
        description="Find grad-mode bugs in PyTorch code: evaluation without no_grad, in-place "
                    "ops on leaves, deprecated volatile.",
    )
    parser.add_argument("paths", nargs="*", help="files or directories to lint (default: .); "
                        "'-' reads standard input")
    parser.add_argument("--select", help="only these codes or prefixes, comma-separated (a "
                        "prefix selects the rules on by default; an opt-in rule needs its code)")
    parser.add_argument("--extend-select", help="codes or prefixes to add to the selection")
    parser.add_argument("--ignore", help="codes or prefixes to leave out")
    parser.add_argument("--exclude", help="comma-separated globs of paths to skip")
    parser.add_argument("--force-exclude", action="store_true",
                        help="apply exclude to files named on the command line too (pre-commit)")
    parser.add_argument("--torch-modules", help="modules that stand for torch (default: runtime)")
    parser.add_argument("--config", metavar="FILE",
                        help="read [tool.nograd-lint] from this TOML file, whatever its name")
    parser.add_argument("--max-file-size", metavar="SIZE",
                        help="skip, with an NG001 notice, files over this size that would be "
                             "analysed (bytes, or e.g. 500k, 2M; 0: no limit; default: 1M)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="text")
    parser.add_argument("--statistics", action="store_true",
                        help="count findings per code (to standard error for json, sarif and "
                             "github, so that standard output stays one document)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the text output (auto: on a terminal, unless NO_COLOR)")
    parser.add_argument("--fix", action="store_true", help="apply safe fixes in place")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix or --diff, also apply fixes that may change behaviour")
    parser.add_argument("--diff", action="store_true",
                        help="print the fixes as a unified diff instead of writing them")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even with findings")
    parser.add_argument("--no-prefilter", action="store_true",
                        help="parse every file and run every selected rule, skipping the text "
                             "and syntax-tree filters (slower; shows that they hide nothing)")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="where to cache the project index and results (default: "
                             ".nograd-lint-cache in the project root)")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the cache")
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


def _check_combinations(args: argparse.Namespace) -> None:
    """Options that contradict each other, or say nothing, are usage errors rather than
    silently ignored."""
    if args.explain and args.list_rules:
        raise ConfigError("--explain and --list-rules cannot be combined")
    if (args.explain or args.list_rules) and args.paths:
        raise ConfigError(f"{'--explain' if args.explain else '--list-rules'} takes no paths")
    if args.diff and args.fix:
        raise ConfigError("--diff shows the fixes without writing them: drop --fix or --diff")
    if args.diff and args.format != "text":
        raise ConfigError(f"--diff prints a unified diff, not --format {args.format}")
    if args.diff and args.statistics:
        raise ConfigError("--diff prints a unified diff: it cannot be combined with --statistics")
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise ConfigError("--unsafe-fixes needs --fix or --diff")
    for option in ("select", "extend_select", "ignore", "exclude", "torch_modules"):
        value = getattr(args, option)
        if value is not None and not value.replace(",", " ").split():
            raise ConfigError(f"--{option.replace('_', '-')} is empty")


def _run(args: argparse.Namespace) -> int:
    _check_combinations(args)
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
    color = use_color(args.color, sys.stdout)

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
        return _lint_stdin(args, config, color)

    discovery = discover(paths, config)
    for error in discovery.errors:
        sys.stderr.write(f"nograd-lint: error: {error}\n")
    if not discovery.files and not discovery.errors:
        sys.stderr.write(f"nograd-lint: warning: No Python files found under {', '.join(paths)}\n")
        return 0
    changed = False
    fixed: int | None = None
    with Workers(args.jobs or default_jobs(), preload=load_analysis) as workers:
        project = _open_project(args, config, [p for p in paths if os.path.exists(p)],
                                linted=[] if args.fix or args.diff else discovery.files,
                                workers=workers)
        progress = Progress(len(discovery.files))
        try:
            if args.fix or args.diff:
                outcomes = []
                for path in discovery.files:
                    outcomes.append(_fix_file(path, config, args, project))
                    progress.update(len(outcomes))
                results = [result for result, _, _ in outcomes]
                changed = any(file_changed for _, file_changed, _ in outcomes)
                fixed = sum(count for _, _, count in outcomes) if args.fix else None
            else:
                results = lint_paths(discovery.files, config, progress=progress.update,
                                     project=project, workers=workers)
        finally:
            progress.close()
    findings = [f for result in results for f in result.findings]
    io_errors = [r.error for r in results if r.error] + discovery.errors
    for result in results:
        if result.error:
            sys.stderr.write(f"nograd-lint: error: {result.error}\n")
    if not args.diff:
        _emit(findings, args, color, fixed)
    linted = sum(1 for r in results if r.analysed)
    if io_errors and linted == 0:
        return 2
    if args.exit_zero:
        return 0
    if args.diff:
        return 1 if changed else 0
    return 1 if findings or io_errors else 0


def _config(args: argparse.Namespace, start: str) -> Config:
    config = load_config_file(args.config) if args.config else load_config(start)
    select = split_codes(args.select)
    return config.merged(
        select=select,
        extend_select=config.extend_select + (split_codes(args.extend_select) or ()),
        ignore=config.ignore + (split_codes(args.ignore) or ()),
        exclude=config.exclude + tuple(p for p in (args.exclude or "").split(",") if p),
        torch_modules=tuple(m.strip() for m in args.torch_modules.split(",")) if args.torch_modules else None,
        prefilter=False if args.no_prefilter else None,
        max_file_size=_max_file_size(args.max_file_size),
        force_exclude=args.force_exclude or None,
    )


def _max_file_size(option: str | None) -> int | None:
    if option is None:
        return None
    try:
        return parse_size(option)
    except ConfigError as error:
        raise ConfigError(f"--max-file-size: {error}") from None


def _open_project(args: argparse.Namespace, config: Config, paths: Sequence[str],
                  sources: dict[str, bytes] = {}, linted: Sequence[str] = (),
                  workers: Workers | None = None) -> Project:
    """The project index around ``paths`` (see nograd_lint/project/), its warnings shown;
    the files it parses of those ``linted`` are screened as it goes (engine.screened_rules)."""
    project = open_project(paths, config, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                           jobs=args.jobs or default_jobs(), sources=sources, linted=linted,
                           screen=functools.partial(screened_rules, config=config),
                           workers=workers)
    for warning in project.warnings:
        sys.stderr.write(f"nograd-lint: warning: {warning}\n")
    return project


def _emit(findings: list[Finding], args: argparse.Namespace, color: bool,
          fixed: int | None = None) -> None:
    """The findings in the chosen format on standard output.  Text output ends with the
    statistics and a summary line; a machine format keeps standard output one document and
    puts the statistics on standard error."""
    findings = sorted(findings, key=lambda f: f.sort_key)
    if args.format == "text":
        sys.stdout.write(colored_text(findings) if color else FORMATS["text"](findings))
        if args.statistics:
            sys.stdout.write(statistics(findings))
        sys.stdout.write(summary(findings, fixed=fixed, unsafe_fixes=args.unsafe_fixes, color=color))
        return
    sys.stdout.write(FORMATS[args.format](findings))
    if args.statistics:
        sys.stderr.write(statistics(findings))


def _lint_stdin(args: argparse.Namespace, config: Config, color: bool) -> int:
    name = args.stdin_filename or "<stdin>"
    source = sys.stdin.buffer.read()
    if args.stdin_filename and is_force_excluded(args.stdin_filename, config):
        if args.fix:  # a formatter-style caller replaces the buffer with what it gets back
            sys.stdout.buffer.write(source)
        return 0
    callers = {}
    if args.stdin_filename:
        callers = _open_project(args, config, [name], {name: source}).callers(name)
    if args.fix or args.diff:
        from nograd_lint.fix import fix_source  # its transformer class loads libcst

        result = fix_source(source, name, config, unsafe=args.unsafe_fixes, callers=callers)
        if args.diff:
            sys.stdout.write(_unified_diff(source, result.source, name))
            return 1 if result.source != source else 0
        sys.stdout.buffer.write(result.source)
        _report_to_stderr(result.remaining)
        if result.error:
            sys.stderr.write(f"nograd-lint: error: {result.error}\n")
        return 0 if args.exit_zero or not (result.remaining or result.error) else 1
    findings = lint_source(source, name, config, callers=callers)
    _emit(findings, args, color)
    return 0 if args.exit_zero or not findings else 1


def _report_to_stderr(findings: list[Finding]) -> None:
    for f in findings:
        sys.stderr.write(f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}\n")


def _fix_file(path: str, config: Config, args: argparse.Namespace,
              project: Project) -> tuple[FileResult, bool, int]:
    """Fix one file (or print its diff); returns its result, whether fixes changed it and how
    many findings they fixed."""
    from nograd_lint.fix import fix_source, write_atomic  # its transformer class loads libcst

    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError as error:
        return unreadable(path, error), False, 0
    try:
        result = fix_source(source, path, config, unsafe=args.unsafe_fixes,
                            callers=project.callers(path))
    except Exception as error:  # a bug of ours: this file stays as it was, the others go on
        return internal_error(path, error), False, 0
    changed = result.source != source
    if args.diff:
        sys.stdout.write(_unified_diff(source, result.source, path))
    elif changed:
        try:
            write_atomic(path, result.source)
        except OSError as error:
            return FileResult(path, lint_source(source, path, config,
                                                callers=project.callers(path)),
                              f"{path}: cannot write fixes: {error.strerror or error}; "
                              "file left unchanged"), False, 0
        sys.stderr.write(f"{path}: fixed {result.fixed} finding(s)\n")
    return FileResult(path, result.remaining, result.error), changed, result.fixed if changed else 0


def _unified_diff(before: bytes, after: bytes, path: str) -> str:
    """A diff ``git apply`` and ``patch -p1`` accept: ``a/x.py``, not ``a/./x.py``, and paths
    relative to the current directory."""
    if before == after:
        return ""
    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    name = _diff_path(path)
    return "".join(difflib.unified_diff(old, new, f"a/{name}", f"b/{name}"))


def _diff_path(path: str) -> str:
    name = os.path.normpath(path)
    if os.path.isabs(name):
        relative = os.path.relpath(name)
        if not relative.startswith(os.pardir):
            name = relative
    return name.replace(os.sep, "/")
