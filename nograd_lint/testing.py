"""Checking rules against programs that mark what must be flagged (Fixit's ``testing.py``).

One marker convention serves the rules' examples, the fixtures and the tests: a line the linter
must flag ends with ``# expect: NG201`` (several codes: ``# expect: NG301, NG303``)::

    from nograd_lint.testing import check
    check('''
        import torch
        w = torch.zeros(3, requires_grad=True)
        w += 1  # expect: NG201
    ''', select=("NG2",))

``rule_examples()`` lists every rule's ``INVALID`` and ``VALID`` programs, which
``tests/lint/test_rule_examples.py`` turns into one test each.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Sequence

from nograd_lint.config import Config
from nograd_lint.engine import lint_source
from nograd_lint.fix import fix_source
from nograd_lint.rule import FixSafety, Invalid, Rule, Valid
from nograd_lint.rules import RULES

_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>NG\d{3}(?:[,\s]+NG\d{3})*)")


def expected_findings(source: str) -> set[tuple[int, str]]:
    """``(line, code)`` of every ``# expect:`` marker in ``source``."""
    expected = set()
    for number, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            expected |= {(number, code) for code in re.findall(r"NG\d{3}", match["codes"])}
    return expected


def check(source: str, *, select: Sequence[str] | None = None, path: str = "train.py",
          config: Config | None = None) -> None:
    """Assert that linting ``source`` (dedented) flags exactly its marked lines.

    ``select`` picks the codes (or prefixes) to run, as ``--select`` does; without it, and
    without ``config``, the rules that are on by default run.
    """
    source = textwrap.dedent(source)
    config = config if config is not None else Config(select=tuple(select) if select else None)
    found = {(f.line, f.code) for f in lint_source(source, path, config)}
    expected = expected_findings(source)
    assert found == expected, _difference(source, found, expected)


def _difference(source: str, found: set, expected: set) -> str:
    lines = source.splitlines()

    def show(pairs: set) -> str:
        return "".join(f"\n  {line}: {code}  | {lines[line - 1].strip() if line <= len(lines) else ''}"
                       for line, code in sorted(pairs))

    return (f"flagged but not marked:{show(found - expected) or ' none'}\n"
            f"marked but not flagged:{show(expected - found) or ' none'}")


def rule_examples() -> Iterator[tuple[type[Rule], Invalid | Valid, str]]:
    """Every rule's examples, with a test id such as ``NG204-INVALID-0``."""
    for code, rule in sorted(RULES.items()):
        for kind, examples in (("INVALID", rule.INVALID), ("VALID", rule.VALID)):
            for index, example in enumerate(examples):
                yield rule, example, f"{code}-{kind}-{index}"


def check_example(rule: type[Rule], example: Invalid | Valid) -> None:
    """An INVALID example is flagged exactly at its markers, all of them the rule's own, and
    its fix gives ``fixed`` (markers aside); a VALID one is not flagged by the rule at all."""
    markers = expected_findings(example.source)
    if isinstance(example, Invalid):
        assert markers and {code for _, code in markers} == {rule.code}, \
            f"an INVALID example of {rule.code} marks only {rule.code} findings"
    else:
        assert not markers, "a VALID example has no '# expect:' markers"
    # NG001 has no trigger text: the engine reports it while parsing a file for other rules.
    check(example.source, select=(rule.code,) if rule.triggers else None, path=example.path)
    if isinstance(example, Invalid) and example.fixed is not None:
        unsafe = rule.fix_safety is FixSafety.UNSAFE
        result = fix_source(example.source, example.path, Config(select=(rule.code,)),
                            unsafe=unsafe)
        assert without_markers(result.source) == example.fixed


def without_markers(source: str) -> str:
    """``source`` without its ``# expect:`` comments: what a fixed example reads like."""
    return re.sub(r"[ \t]*#\s*expect:[^\n]*", "", source)
