"""Fuzzing the linter: grammar-generated programs (hypothesmith) and mutated fixtures.

Each input goes through the in-process engine and fixer (fast), and a few batches go through
the ``nograd-lint`` command.  The invariants are in ``fuzzing.check_invariants``.  Run longer
with ``NOGRAD_FUZZ_EXAMPLES=10000 python -m pytest tests/robustness/test_fuzz.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import hypothesmith
import pytest
import libcst as cst
from hypothesis import given
from hypothesis import strategies as st

from nograd_lint.engine import lint_source
from nograd_lint.rules import RULES
from tests.robustness.fuzzing import (
    CONFIG, PREAMBLE, SNIPPETS, check_invariants, fuzz_settings, mutate, mutated_fixture, parses,
    with_triggers,
)

# hypothesmith compiles what it generates: code like "True()" warns, by design.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
programs = st.deferred(hypothesmith.from_grammar)  # building the grammar takes seconds


@fuzz_settings(quick=20)
@given(program=programs, as_bytes=st.booleans(), data=st.data())
def test_generated_programs_keep_every_invariant(program, as_bytes, data):
    source = with_triggers(program, data.draw)
    check_invariants(source.encode("utf-8") if as_bytes else source)  # as the CLI / the API read


@fuzz_settings(quick=40)
@given(case=mutated_fixture)
def test_mutated_fixtures_keep_every_invariant(case):
    name, mutations = case
    check_invariants(mutate(name, mutations).encode("utf-8"))


def test_the_snippets_reach_every_fixable_rule():
    # Guards the fuzzers' reach: a rule with a fix that no snippet triggers would never have
    # its fix fuzzed.  (A new fixable rule fails this until it gets a snippet.)
    source = PREAMBLE + "\n".join(SNIPPETS) + "\n"
    fixable = {code for code, rule in RULES.items()
               if rule.fix_safety is not None and code in CONFIG.enabled_codes(RULES, "s.py")}
    assert {f.code for f in lint_source(source, "s.py", CONFIG) if f.fix is not None} == fixable
    assert "NG001" not in check_invariants(source)


def _cli(*args: str, cwd: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "nograd_lint", "--jobs", "1", "--extend-select", "NG106"]
    return subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@fuzz_settings(quick=1, cost=500)  # three subprocesses per example
@given(batch=st.lists(st.tuples(programs, st.data()), min_size=4, max_size=4))
def test_command_line_fix_on_generated_programs(batch):
    with tempfile.TemporaryDirectory() as directory:
        files = []
        for index, (program, data) in enumerate(batch):
            path = Path(directory, f"gen_{index}.py")
            path.write_text(with_triggers(program, data.draw), encoding="utf-8", newline="")
            files.append(path)
        before = {path: path.read_bytes() for path in files}
        listed = _cli("--exit-zero", ".", cwd=directory)
        in_process = [f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}"
                      for path in files
                      for f in lint_source(before[path], f"./{path.name}", CONFIG)]
        summary = [f"Found {len(in_process)} finding"] if in_process else []  # a summary line
        assert [line[:len(summary[0])] for line in listed.stdout.splitlines()[-1:]] == summary
        assert sorted(listed.stdout.splitlines()[:len(in_process)]) == sorted(in_process)
        assert "Traceback" not in listed.stderr

        fixed = _cli("--fix", "--unsafe-fixes", ".", cwd=directory)
        assert "Traceback" not in fixed.stderr and "does not parse" not in fixed.stderr
        for path in files:
            if parses(before[path]):
                cst.parse_module(path.read_bytes())
        again = _cli("--diff", "--unsafe-fixes", ".", cwd=directory)
        assert (again.returncode, again.stdout) == (0, ""), "a second --fix would change files"
