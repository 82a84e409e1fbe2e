"""Every fixture: the linter reports exactly its markers, and running it gives its outcome on
our runtime and, where installed, on PyTorch itself, with the same printed output.  Fixtures
about NG106 also run migrated to inference_mode (see ``tests/fixture_programs.py``)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import lru_cache

import pytest

from tests.fixture_programs import (
    FIXTURES, ROOT, check_outcomes, expected_findings, fixture_paths, forced_migration,
    is_flagged_migration, migrated_outcomes, migration_fixtures, outcomes, run_program,
)

PATHS = fixture_paths()
IDS = [path.name for path in PATHS]
HAVE_TORCH = importlib.util.find_spec("torch") is not None


@lru_cache(maxsize=1)
def _lint_all() -> dict[str, set[tuple[int, str]]]:
    """One CLI run over the whole fixture directory, every rule selected."""
    done = subprocess.run(
        [sys.executable, "-m", "nograd_lint", "--select", "NG,NG106,NG205", "--format", "json", str(FIXTURES)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    found: dict[str, set[tuple[int, str]]] = {}
    for row in json.loads(done.stdout):
        found.setdefault(row["path"].rsplit("/", 1)[-1], set()).add((row["line"], row["code"]))
    return found


def test_every_rule_has_fixtures_on_both_sides():
    from nograd_lint.rules import RULES

    marked = {code for path in PATHS for _, code in expected_findings(path)}
    # NG001 is a parse error: it cannot be a runnable program (tested in tests/lint).
    assert set(RULES) - {"NG001"} <= marked
    assert marked <= set(RULES)
    assert any(path.name.startswith("ok_") for path in PATHS)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_lint_reports_exactly_the_markers(path):
    assert _lint_all().get(path.name, set()) == expected_findings(path)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_outcome_on_runtime(path):
    check_outcomes(run_program(path, "runtime"), outcomes(path))


@pytest.mark.skipif(not HAVE_TORCH, reason="PyTorch is not installed")
@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_outcome_on_torch_matches_runtime(path):
    on_torch = run_program(path, "torch")
    check_outcomes(on_torch, outcomes(path))
    assert run_program(path, "runtime").stdout == on_torch.stdout


MIGRATIONS = migration_fixtures()
BACKENDS = ["runtime", pytest.param("torch", marks=pytest.mark.skipif(
    not HAVE_TORCH, reason="PyTorch is not installed"))]


def _migrate(path, directory):
    """A migrated copy of the fixture: by NG106's own fix when it flags the fixture, else by
    rewriting the lines marked '# force-migrate'."""
    copy = directory / path.name
    original = path.read_text()
    if not is_flagged_migration(path):
        copy.write_text(forced_migration(original))
        return copy
    copy.write_text(original)
    done = subprocess.run([sys.executable, "-m", "nograd_lint", "--select", "NG106", "--fix",
                           str(copy)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr  # every finding fixed
    assert "inference_mode" in copy.read_text() and copy.read_text() != original
    return copy


def test_migrations_cover_both_sides():
    assert any(is_flagged_migration(path) for path in MIGRATIONS)
    assert any(not is_flagged_migration(path) for path in MIGRATIONS)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("path", MIGRATIONS, ids=[path.name for path in MIGRATIONS])
def test_migrated_program(path, backend, tmp_path):
    migrated = run_program(_migrate(path, tmp_path), backend)
    check_outcomes(migrated, migrated_outcomes(path))
    if is_flagged_migration(path):
        assert migrated.stdout == run_program(path, backend).stdout  # runs identically
