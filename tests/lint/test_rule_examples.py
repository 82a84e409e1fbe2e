"""Every rule's documented examples are run (Fixit's generated tests), and every rule's
fixtures exist on both sides.

Adding a rule is adding a file to ``nograd_lint/rules/``: its ``INVALID`` and ``VALID``
examples become tests here without new test code.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from nograd_lint.rules import RULES
from nograd_lint.testing import check_example, expected_findings, rule_examples
from tests.fixture_programs import FIXTURES, ROOT

_EXAMPLES = list(rule_examples())


@pytest.mark.parametrize(("rule", "example"), [(r, e) for r, e, _ in _EXAMPLES],
                         ids=[name for _, _, name in _EXAMPLES])
def test_rule_example(rule, example):
    check_example(rule, example)


def test_every_rule_module_is_registered_and_documented():
    modules = sorted(p.stem for p in (ROOT / "nograd_lint" / "rules").glob("ng*.py"))
    registered = sorted(sys.modules[rule.__module__].__name__.rsplit(".", 1)[-1]
                        for rule in RULES.values())
    assert modules == registered
    for code, rule in RULES.items():
        assert rule.__module__.rsplit(".", 1)[-1].startswith(code.lower() + "_")
        assert rule.INVALID, f"{code} documents no INVALID example"
        doc = rule.__doc__ or ""
        for section in ("## What it does", "## Why is this bad?", "## Fix safety"):
            assert section in doc, f"{code} lacks '{section}'"


@pytest.mark.parametrize("code", sorted(set(RULES) - {"NG001"}))
def test_rule_fixtures_exist_on_both_sides(code):
    rule = RULES[code]
    flagged = {name for name in rule.fixtures
               if code in {c for _, c in expected_findings((FIXTURES / name).read_text())}}
    assert flagged and set(rule.fixtures) - flagged, f"{code} needs fixtures on both sides"
    own = {p.name for p in FIXTURES.glob(f"{code.lower()}_*.py")}
    assert own <= flagged, f"{code}: {sorted(own - flagged)} not listed or not marked"


def test_every_fixture_belongs_to_a_rule():
    listed = {name for rule in RULES.values() for name in rule.fixtures}
    assert {p.name for p in FIXTURES.glob("*.py")} <= listed


def test_explain_prints_the_examples_the_tests_run():
    for code, rule in RULES.items():
        explained = subprocess.run([sys.executable, "-m", "nograd_lint", "--explain", code],
                                   capture_output=True, text=True, check=True).stdout
        blocks = re.findall(r"```python\n(.*?)```", explained, re.DOTALL)
        assert blocks[0] == rule.INVALID[0].source
        if rule.VALID:
            assert blocks[1] == rule.VALID[0].source
