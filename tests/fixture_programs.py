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

Migrations to ``inference_mode`` (NG106) are run too.  A fixture with an ``# expect: NG106``
marker is fixed with ``nograd-lint --select NG106 --fix`` and the result must run exactly as
the original: same outcome, same output.  A fixture whose ``no_grad`` blocks NG106 must *not*
migrate marks them with a trailing ``# force-migrate`` (on the ``with`` or decorator line);
the test rewrites ``no_grad`` to ``inference_mode`` on those lines and checks what the migrated
program does, stated in ``migrated`` header lines of the same kinds as ``outcome``:

    # migrated: raises RuntimeError: Inference tensors cannot be saved for backward. ...
    # migrated: ok
    # migrated: prints <line>

A flagged fixture may state ``migrated`` lines too; without them it must behave as ``outcome``
says.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from nograd_lint.testing import expected_findings as markers_in

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
_OUTCOME = re.compile(r"^#\s*outcome:\s*(?P<kind>ok|raises|warns|prints)\b\s*(?P<detail>.*)$")
_MIGRATED = re.compile(r"^#\s*migrated:\s*(?P<kind>ok|raises|warns|prints)\b\s*(?P<detail>.*)$")
_FORCE_MIGRATE = re.compile(r"#\s*force-migrate\b")
_NO_GRAD = re.compile(r"\bno_grad\b")


@dataclass(frozen=True)
class Outcome:
    kind: str  # ok | raises | warns | prints
    detail: str = ""


def fixture_paths() -> list[Path]:
    return sorted(FIXTURES.glob("*.py"))


def expected_findings(path: Path) -> set[tuple[int, str]]:
    return markers_in(path.read_text())


def outcomes(path: Path) -> list[Outcome]:
    found = _headers(path, _OUTCOME)
    if not found:
        raise AssertionError(f"{path.name} has no '# outcome:' line")
    return found


def migrated_outcomes(path: Path) -> list[Outcome]:
    """What the fixture does once migrated to inference_mode: its ``migrated`` lines, else (for
    a fixture NG106 flags) its ``outcome`` lines."""
    found = _headers(path, _MIGRATED)
    if not found and not is_flagged_migration(path):
        raise AssertionError(f"{path.name} forces a migration but has no '# migrated:' line")
    return found or outcomes(path)


def _headers(path: Path, pattern: re.Pattern) -> list[Outcome]:
    return [Outcome(m["kind"], m["detail"].strip())
            for m in map(pattern.match, path.read_text().splitlines()) if m]


def is_flagged_migration(path: Path) -> bool:
    return any(code == "NG106" for _, code in expected_findings(path))


def migration_fixtures() -> list[Path]:
    """Fixtures whose inference_mode migration is run: flagged by NG106, or forced."""
    return [path for path in fixture_paths()
            if is_flagged_migration(path) or _FORCE_MIGRATE.search(path.read_text())]


def forced_migration(source: str) -> str:
    """``source`` with ``no_grad`` turned into ``inference_mode`` on its ``# force-migrate``
    lines: the migration NG106 refuses, done anyway to show what it would break."""
    lines = source.splitlines(keepends=True)
    marked = [i for i, line in enumerate(lines) if _FORCE_MIGRATE.search(line)]
    for index in marked:
        assert _NO_GRAD.search(lines[index]), f"'# force-migrate' on a line without no_grad: {lines[index]!r}"
        lines[index] = _NO_GRAD.sub("inference_mode", lines[index])
    return "".join(lines)


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
