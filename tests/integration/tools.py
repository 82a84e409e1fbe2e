"""The real programs the integration tests drive (nograd-lint, flake8, pre-commit, git, pip),
and readers for what they print."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from tests.fixture_programs import FIXTURES, ROOT, expected_findings

NOGRAD_LINT = (sys.executable, "-m", "nograd_lint")
FLAKE8 = (sys.executable, "-m", "flake8")
PRE_COMMIT = (sys.executable, "-m", "pre_commit")

# flake8's and nograd-lint's text format: path:line:col: CODE message
_FINDING = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+):(?P<column>\d+): (?P<code>[A-Z]+\d+) (?P<message>.*)$")


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus git's per-repository variables (set when pytest runs inside a
    git hook, they would point every temporary repository at the caller's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    return {**env, **extra}


def run(command: Sequence[str], *args: str | os.PathLike, cwd: Path, stdin: str | None = None,
        env: dict[str, str] | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*command, *map(str, args)], cwd=cwd, input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=env or clean_env())


def finding_rows(output: str) -> list[dict[str, str]]:
    """Each finding line of ``output`` as its fields: path, line, column, code, message."""
    return [m.groupdict() for m in map(_FINDING.match, output.splitlines()) if m]


def finding_lines(output: str, prefix: str = "") -> list[str]:
    """The ``path:line:col: CODE message`` lines of ``output`` whose code starts with ``prefix``."""
    return ["{path}:{line}:{column}: {code} {message}".format(**row)
            for row in finding_rows(output) if row["code"].startswith(prefix)]


def findings(output: str) -> set[tuple[str, int, str]]:
    """``(path, line, code)`` of every finding line in ``output``."""
    return {(row["path"], int(row["line"]), row["code"]) for row in finding_rows(output)}


def markers(paths: Iterable[Path], relative_to: Path) -> set[tuple[str, int, str]]:
    """The ``# expect:`` markers of ``paths`` as ``(path, line, code)``, paths as linted from
    ``relative_to``."""
    return {(path.relative_to(relative_to).as_posix(), line, code)
            for path in paths for line, code in expected_findings(path)}


BROKEN = "import torch\nwith torch.no_grad:\n    x = (\n"


def fixtures_with_a_broken_file(destination: Path) -> Path:
    """A copy of fixtures/ plus a file that does not parse: what a real tree may hold."""
    shutil.copytree(FIXTURES, destination / "fixtures")
    (destination / "fixtures" / "broken.py").write_text(BROKEN)
    return destination


# The same selection for both programs; flake8's also shows E999 (on by default, but a
# --select must name it; flake8 keeps only the last --extend-select, so it goes in the list).
SELECTIONS = {
    "default": ((), ()),
    "select-NG": (("--select", "NG"), ("--select", "NG,E999")),
}


def assert_flake8_prints_what_the_cli_prints(
        nograd_lint: Sequence[str], flake8: Sequence[str], cwd: Path, target: str,
        selection: tuple[Sequence[str], Sequence[str]]) -> None:
    """Both programs over ``target`` with ``selection`` (the CLI's options, flake8's): the same
    ``path:line:col: CODE message`` lines, except that a file that does not parse is the CLI's
    NG001 and flake8's E999 (never an NG001)."""
    cli = run(nograd_lint, *selection[0], target, cwd=cwd)
    plugin = run(flake8, *selection[1], target, cwd=cwd)
    assert cli.returncode in (0, 1) and plugin.returncode in (0, 1), cli.stderr + plugin.stderr
    expected = [line for line in finding_lines(cli.stdout) if " NG001 " not in line]
    assert expected, "the comparison needs findings"
    assert sorted(finding_lines(plugin.stdout, "NG")) == sorted(expected)
    unparsed = {path for path, _, code in findings(cli.stdout) if code == "NG001"}
    assert unparsed, "the comparison needs a file that does not parse"
    assert {path for path, _, code in findings(plugin.stdout) if code == "E999"} == unparsed


# ----------------------------------------------------------------------------- git and network


def git(*args: str, cwd: Path) -> str:
    done = run(("git", "-c", "user.name=nograd-lint tests", "-c", "user.email=tests@invalid",
                "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"), *args, cwd=cwd)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def require_git() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")


def new_git_repo(path: Path) -> Path:
    require_git()
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", cwd=path)
    return path


def snapshot_of_working_tree(destination: Path) -> tuple[Path, str]:
    """The project's working tree (tracked and new files, as they are now) committed to a fresh
    repository: what a user would get at a tag, including changes not yet committed here.
    Returns the repository and its commit."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    new_git_repo(destination)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file may have been deleted in the working tree
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git("add", "-A", cwd=destination)
    git("commit", "-q", "-m", "snapshot of the nograd-lint working tree", cwd=destination)
    return destination, git("rev-parse", "HEAD", cwd=destination).strip()


# What pip prints when the package index cannot be reached.
_OFFLINE = ("Failed to establish a new connection", "Temporary failure in name resolution",
            "Network is unreachable", "Name or service not known", "Connection refused",
            "Could not fetch URL")


def skip_if_offline(done: subprocess.CompletedProcess, what: str, log: Path | None = None) -> None:
    """Skip (with the reason) when ``done`` failed only because PyPI could not be reached; any
    other failure is left to the caller's assertions."""
    text = done.stdout + done.stderr
    if log is not None and log.is_file():
        text += log.read_text(errors="replace")
    if done.returncode != 0 and any(sign in text for sign in _OFFLINE):
        pytest.skip(f"{what}: the package index cannot be reached from here, so the "
                    "environment cannot be built")
