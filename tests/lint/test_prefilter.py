"""The pre-filters are sound: skipping files by text and by syntax-tree features never hides a
finding.  Every fixture and every code snippet of the lint tests is linted with and without
``--no-prefilter`` (through the CLI), and the findings must be identical."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nograd_lint.config import Config
from nograd_lint.rules import RULES
from nograd_lint.screen import features
from nograd_lint.testing import rule_examples
from tests.fixture_programs import FIXTURES, ROOT

_SNIPPET = re.compile(r'"""(.*?)"""', re.DOTALL)


def _snippets() -> list[str]:
    """The Python programs quoted in the lint tests (``{region}`` placeholders filled in), and
    every rule's documented examples."""
    found = []
    for test in sorted((ROOT / "tests" / "lint").glob("test_*.py")):
        for text in _SNIPPET.findall(test.read_text()):
            code = textwrap.dedent(text.replace("{region}", "with torch.no_grad():")
                                   .replace("{creation}", "torch.zeros(3, requires_grad=True)"))
            if "torch" not in code:
                continue
            try:
                ast.parse(code)
            except SyntaxError:
                continue
            found.append(code)
    found += [example.source for _, example, _ in rule_examples()]
    return found


def _lint(directory: Path, *extra: str) -> list[tuple]:
    done = subprocess.run(
        [sys.executable, "-m", "nograd_lint", "--select", "NG,NG106", "--format", "json", "--jobs", "1",
         *extra, str(directory)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    return sorted((row["path"], row["line"], row["column"], row["code"])
                  for row in json.loads(done.stdout) if row["code"] != "NG001")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    for number, code in enumerate(_snippets()):
        (directory / f"snippet_{number:03d}.py").write_text(code)
    for fixture in FIXTURES.glob("*.py"):
        (directory / fixture.name).write_text(fixture.read_text())
    return directory


def test_the_corpus_exercises_every_rule(corpus):
    codes = {code for *_, code in _lint(corpus, "--no-prefilter")}
    assert set(RULES) - {"NG001"} <= codes


def test_prefilters_hide_no_finding(corpus):
    assert _lint(corpus) == _lint(corpus, "--no-prefilter")


def test_rules_declare_only_features_the_screen_knows():
    known = set(re.findall(r"^``([a-z-]+)``", (ROOT / "nograd_lint" / "screen.py").read_text(),
                           re.MULTILINE))
    for rule in RULES.values():
        assert rule.features <= known, rule.code
    source = (FIXTURES / "ng201_custom_optimizer.py").read_text()
    everything = features(ast.parse(source), source, "ng201_custom_optimizer.py", Config())
    assert everything <= known


def test_the_screen_skips_files_no_rule_can_fire_on(tmp_path):
    # Text triggers everywhere (``.weight``, ``val``, ``backward``), yet nothing to flag.
    (tmp_path / "model.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Block(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.proj = nn.Linear(dim, dim)
                self.scale = nn.Parameter(torch.ones(dim))

            def forward(self, x):
                value = self.proj(x) * self.scale
                return value + self.proj.bias
        """))
    source = (tmp_path / "model.py").read_text()
    present = features(ast.parse(source), source, "model.py", Config())
    enabled = [rule for rule in RULES.values() if rule.default_enabled and rule.code != "NG001"]
    assert not [rule.code for rule in enabled if rule.features <= present and rule.features]
