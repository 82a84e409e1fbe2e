from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.tools import snapshot_of_working_tree


@pytest.fixture(scope="session")
def project_snapshot(tmp_path_factory) -> tuple[Path, str]:
    """One committed copy of the working tree per session, for pre-commit and pip to install
    from.  Pointed at this checkout itself, pre-commit would install HEAD plus a shadow commit
    of tracked changes only (new, untracked modules left out) and build a new environment on
    every call; a clean repository at a fixed commit is installed whole, and built once."""
    return snapshot_of_working_tree(tmp_path_factory.mktemp("snapshot") / "nograd-lint")
