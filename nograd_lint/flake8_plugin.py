"""flake8 plugin: the same engine and rules as the CLI, reported as flake8 findings.

flake8 owns ``# noqa``, selection and syntax errors (E999), so the engine runs without its
own noqa filtering and without NG001.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from nograd_lint import __version__
from nograd_lint.config import Config
from nograd_lint.engine import lint_source


class NogradChecker:
    name = "nograd-lint"
    version = __version__
    _config = Config(select=("NG",))

    def __init__(self, tree: object, lines: list[str], filename: str) -> None:
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
            help="extra function-name patterns that mark evaluation code",
        )

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        cls._config = Config(
            select=("NG",),
            torch_modules=tuple(options.nograd_torch_modules),
            eval_function_patterns=tuple(options.nograd_eval_patterns),
        )

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        source = "".join(self._lines)
        findings = lint_source(source, self._filename, self._config, honor_noqa=False,
                               report_parse_errors=False)
        for finding in findings:
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)
