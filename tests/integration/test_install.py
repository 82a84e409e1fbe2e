"""`pip install .` into a fresh virtual environment, then its own `nograd-lint` and `flake8`:
what a user gets, without the editable checkout behind the rest of the suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.integration.tools import (
    SELECTIONS, assert_flake8_prints_what_the_cli_prints, fixtures_with_a_broken_file, run,
    skip_if_offline,
)


@pytest.fixture(scope="module")
def venv_bin(project_snapshot, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    created = run((sys.executable, "-m", "venv", str(venv)), cwd=venv)
    assert created.returncode == 0, created.stderr
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    done = run((str(bin_dir / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                "--quiet", str(project_snapshot[0])), cwd=venv, timeout=900)
    skip_if_offline(done, "pip install .")
    assert done.returncode == 0, done.stdout + done.stderr
    return bin_dir


def test_flake8_lists_the_plugin(venv_bin, tmp_path):
    done = run((str(venv_bin / "flake8"), "--version"), cwd=tmp_path)
    assert "nograd-lint: " in done.stdout, done.stdout


def test_installed_flake8_prints_what_the_installed_cli_prints(venv_bin, tmp_path):
    # Both selections are compared on the editable install (test_flake8.py); here what matters
    # is that the installed distribution carries every rule to both entry points.
    project = fixtures_with_a_broken_file(tmp_path)
    assert_flake8_prints_what_the_cli_prints((str(venv_bin / "nograd-lint"),),
                                             (str(venv_bin / "flake8"),),
                                             project, "fixtures", SELECTIONS["select-NG"])
