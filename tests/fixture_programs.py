"""The fixture format of DESIGN.md: expected findings and runtime outcomes of `fixtures/*.py`.

A fixture marks each line the linter must flag with a trailing ``# expect: NG301, NG303``, and
states what running it does in header lines:

    # outcome: ok                                   exits 0 and prints no warning
    # outcome: raises RuntimeError: <message>       the uncaught exception, exactly
    # outcome: warns UserWarning: <message>          exits 0 having shown this warning
    # outcome: prints graph retained: True          exits 0 having printed this line

A fixture may state several ``warns`` and ``prints`` outcomes.  Evaluation fixtures print
``graph retained: <bool>`` (does an output carry a ``grad_fn``?), so the memory a linter
finding is about is shown by running the program.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>NG\d{3}(?:[,\s]+NG\d{3})*)")
_OUTCOME = re.compile(r"^#\s*outcome:\s*(?P<kind>ok|raises|warns|prints)\b\s*(?P<detail>.*)$")


@dataclass(frozen=True)
class Outcome:
    kind: str  # ok | raises | warns | prints
    detail: str = ""


def fixture_paths() -> list[Path]:
    return sorted(FIXTURES.glob("*.py"))


def expected_findings(path: Path) -> set[tuple[int, str]]:
    expected = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            expected |= {(number, code) for code in re.findall(r"NG\d{3}", match["codes"])}
    return expected


def outcomes(path: Path) -> list[Outcome]:
    found = [Outcome(m["kind"], m["detail"].strip())
             for m in map(_OUTCOME.match, path.read_text().splitlines()) if m]
    if not found:
        raise AssertionError(f"{path.name} has no '# outcome:' line")
    return found


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_program(path: Path, backend: str) -> Run:
    """Run a fixture unchanged, with ``import torch`` meaning real PyTorch or our runtime."""
    command = [sys.executable, "-W", "default"]
    command += ["-m", "runtime.torch_alias", str(path)] if backend == "runtime" else [str(path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    return Run(done.returncode, done.stdout, done.stderr)


def check_outcomes(run: Run, expected: list[Outcome]) -> None:
    stderr_lines = run.stderr.strip().splitlines()
    for outcome in expected:
        if outcome.kind == "raises":
            assert run.returncode != 0, f"expected {outcome.detail!r}, but it exited 0"
            assert stderr_lines and stderr_lines[-1] == outcome.detail, run.stderr
            continue
        assert run.returncode == 0, f"exited {run.returncode}:\n{run.stderr}"
        if outcome.kind == "warns":
            assert any(line.endswith(outcome.detail) for line in stderr_lines), run.stderr
        elif outcome.kind == "prints":
            assert outcome.detail in run.stdout.splitlines(), run.stdout
        else:
            assert "Warning:" not in run.stderr, run.stderr
