"""flake8 plugin: the same engine and rules as the CLI, reported as flake8 findings.

flake8 owns ``# noqa``, selection and syntax errors (E999), so the engine runs every rule,
without its own noqa filtering and without NG001, and flake8 decides what is shown.  Options
come from flake8's own configuration (command line, setup.cfg, tox.ini, .flake8), not from
``[tool.nograd-lint]``.

flake8 hands the plugin one file at a time, so the project index (nograd_lint/project/) is
built once per process, on the first file of a project, through the same on-disk cache as
the command line's.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator

from nograd_lint import __version__
from nograd_lint.config import Config, ConfigError, check_patterns
from nograd_lint.engine import lint_source
from nograd_lint.frameworks import configured_hooks
from nograd_lint.project import Project, open_project
from nograd_lint.rules import RULES


class NogradChecker:
    name = "nograd-lint"
    version = __version__
    # Until parse_options has read the selection: the rules on by default.  No size limit:
    # flake8 has no notion of a file it skips, and NG001 is never reported under it.
    _config = Config(max_file_size=0)
    _paths: tuple[str, ...] = ()  # what flake8 was asked to check
    _project: Project | None = None  # built once per process, on the first file

    def __init__(self, tree: object, lines: list[str], filename: str) -> None:
        # flake8's lines, not the file: that is how stdin is linted; ``filename`` is already
        # the --stdin-display-name there, so per-file logic (test files) sees the shown name.
        self._lines = lines
        self._filename = filename

    @classmethod
    def add_options(cls, manager) -> None:
        manager.add_option(
            "--nograd-torch-modules", default="runtime", parse_from_config=True,
            comma_separated_list=True,
            help="modules that stand for torch, e.g. a project's own re-export (default: runtime)",
        )
        manager.add_option(
            "--nograd-eval-patterns", default="", parse_from_config=True,
            comma_separated_list=True,
            help="regular expressions: more function names that mark evaluation code",
        )
        manager.add_option(
            "--nograd-no-grad-hooks", default="", parse_from_config=True,
            comma_separated_list=True,
            help="module.Class.method: methods your framework runs without gradients",
        )

    @classmethod
    def parse_options(cls, manager, options: argparse.Namespace, filenames: list[str]) -> None:
        try:
            patterns = check_patterns(options.nograd_eval_patterns)
        except ConfigError as error:
            manager.parser.error(f"--nograd-eval-patterns: {error}")
        try:
            configured_hooks(options.nograd_no_grad_hooks)
        except ValueError as error:
            manager.parser.error(f"--nograd-no-grad-hooks: {error}")
        # flake8 shows every code a plugin yields that its selection matches, and an explicit
        # ``--select NG`` beats any default ignore; so the plugin itself runs an opt-in rule
        # only when its full code is selected, as the CLI (and ruff, for preview rules) does.
        chosen = {*(options.select or ()), *(options.extend_select or ())}
        cls._config = Config(
            select=tuple(code for code, rule in RULES.items() if rule.default_enabled or code in chosen),
            max_file_size=0,
            torch_modules=tuple(options.nograd_torch_modules),
            eval_function_patterns=patterns,
            no_grad_hooks=tuple(options.nograd_no_grad_hooks),
        )
        cls._paths = tuple(p for p in filenames if p != "-")
        cls._project = None

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        source = "".join(self._lines)
        findings = lint_source(source, self._filename, self._config, honor_noqa=False,
                               report_parse_errors=False, callers=self._callers(source))
        for finding in findings:
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)

    def _callers(self, source: str):
        """What the project index says about this file's callers in other files: the index
        of the projects around the paths flake8 checks, as the command line builds it."""
        if not os.path.isfile(self._filename):  # standard input, under a new file's name
            if self._filename in ("stdin", "-"):
                return {}
            project = self._open([self._filename], {self._filename: source.encode()})
            return project.callers(self._filename)
        cls = type(self)
        if cls._project is None:
            cls._project = self._open(list(cls._paths) or [self._filename])
        return cls._project.callers(self._filename)

    def _open(self, paths: list[str], sources: dict[str, bytes] = {}) -> Project:
        project = open_project([p for p in paths if p in sources or os.path.exists(p)],
                               self._config, sources=sources)
        for warning in project.warnings:
            sys.stderr.write(f"nograd-lint: warning: {warning}\n")
        return project
