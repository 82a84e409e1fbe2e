"""The hooks of .pre-commit-hooks.yaml, run by the real pre-commit in fresh git repositories.

pre-commit installs the project into a virtual environment of its own with pip, so these tests
need the package index; where it cannot be reached they skip and say so.  The tests that use
``pre-commit run`` share one environment (one PRE_COMMIT_HOME for the module, one repository
and commit); ``try-repo`` always builds in a store of its own, so it runs once.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from nograd_lint.rules import RULES
from tests.fixture_programs import FIXTURES, ROOT, fixture_paths
from tests.integration.tools import (
    NOGRAD_LINT, PRE_COMMIT, clean_env, findings, git, markers, new_git_repo, run,
    skip_if_offline,
)

LEGACY = textwrap.dedent("""\
    import torch
    from torch.autograd import Variable
    x = Variable(torch.ones(2), volatile=True)  # expect: NG301, NG303
    x.volatile = False  # expect: NG302
""")
CLEAN = "import torch\n\nwith torch.no_grad():\n    y = torch.ones(2) * 2\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(*args: str, cwd: Path, home: Path):
    return run(PRE_COMMIT, *args, cwd=cwd, env=clean_env(PRE_COMMIT_HOME=str(home)), timeout=900)


def readme_config(repo: Path, rev: str, hook: str) -> str:
    """README's .pre-commit-config.yaml, pointed at ``repo`` at ``rev``, with ``hook``."""
    snippet = re.search(r"```yaml\n(repos:.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert snippet, "README has no .pre-commit-config.yaml snippet"
    config = yaml.safe_load(snippet[1])
    (entry,) = config["repos"]
    assert [h["id"] for h in entry["hooks"]] == ["nograd-lint"]
    entry.update(repo=str(repo), rev=rev, hooks=[{"id": hook}])
    return yaml.safe_dump(config)


@pytest.fixture(scope="module")
def hooks_installed(project_snapshot, home, tmp_path_factory) -> tuple[Path, str]:
    """The hooks' environment, built once for the module; skips where it cannot be built."""
    repo = new_git_repo(tmp_path_factory.mktemp("install"))
    (repo / ".pre-commit-config.yaml").write_text(readme_config(*project_snapshot, "nograd-lint"))
    done = pre_commit("install-hooks", cwd=repo, home=home)
    skip_if_offline(done, "pre-commit install-hooks", home / "pre-commit.log")
    assert done.returncode == 0, done.stdout + done.stderr
    return project_snapshot


def _user_repo(path: Path, files: dict[str, str], config: str) -> Path:
    repo = new_git_repo(path)
    for name, text in {**files, ".pre-commit-config.yaml": config}.items():
        (repo / name).write_text(text)
    git("add", "-A", cwd=repo)
    return repo


def test_try_repo_reports_every_fixture_marker(project_snapshot, home, tmp_path):
    repo = new_git_repo(tmp_path / "user")
    shutil.copytree(FIXTURES, repo / "fixtures")
    git("add", "-A", cwd=repo)
    names = [f"fixtures/{path.name}" for path in fixture_paths()]
    done = pre_commit("try-repo", str(project_snapshot[0]), "nograd-lint", "--files", *names,
                      cwd=repo, home=home)
    skip_if_offline(done, "pre-commit try-repo", home / "pre-commit.log")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^nograd-lint\.+Failed$", done.stdout, re.M), done.stdout
    # The hook runs with the default selection: opt-in rules' markers are not reported.
    on_by_default = {m for m in markers(fixture_paths(), FIXTURES.parent)
                     if RULES[m[2]].default_enabled}
    assert findings(done.stdout) == on_by_default


def test_readme_config_lints_python_files_only(hooks_installed, home, tmp_path):
    # notes.txt holds flaggable code too: only `types: [python]` keeps it away from the hook.
    files = {"legacy.py": LEGACY, "clean.py": CLEAN, "notes.txt": LEGACY}
    repo = _user_repo(tmp_path / "user", files, readme_config(*hooks_installed, "nograd-lint"))
    done = pre_commit("run", "--all-files", cwd=repo, home=home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert findings(done.stdout) == markers([repo / "legacy.py"], repo)
    clean = pre_commit("run", "--files", "clean.py", "notes.txt", cwd=repo, home=home)
    assert clean.returncode == 0, clean.stdout
    assert re.search(r"^nograd-lint\.+Passed$", clean.stdout, re.M), clean.stdout


def test_fix_hook_rewrites_the_file_and_pre_commit_reports_it(hooks_installed, home, tmp_path):
    repo = _user_repo(tmp_path / "user", {"legacy.py": LEGACY},
                      readme_config(*hooks_installed, "nograd-lint-fix"))
    fixed = run(NOGRAD_LINT, "--fix", "-", cwd=repo, stdin=LEGACY).stdout
    assert fixed != LEGACY
    done = pre_commit("run", "--all-files", cwd=repo, home=home)
    assert done.returncode == 1
    assert "- files were modified by this hook" in done.stdout, done.stdout
    assert (repo / "legacy.py").read_text() == fixed
    git("add", "-A", cwd=repo)
    again = pre_commit("run", "--all-files", cwd=repo, home=home)
    assert again.returncode == 0, again.stdout
    assert (repo / "legacy.py").read_text() == fixed


@pytest.mark.parametrize("hook", ["nograd-lint", "nograd-lint-fix"])
def test_hooks_leave_excluded_files_alone(hooks_installed, home, tmp_path, hook):
    # pre-commit names every file: the hooks pass --force-exclude, so that `exclude` holds.
    files = {"legacy.py": LEGACY, "pyproject.toml": '[tool.nograd-lint]\nexclude = ["vendor/"]\n'}
    repo = _user_repo(tmp_path / "user", files, readme_config(*hooks_installed, hook))
    (repo / "vendor").mkdir()
    (repo / "vendor" / "legacy.py").write_text(LEGACY)
    git("add", "-A", cwd=repo)
    done = pre_commit("run", "--all-files", cwd=repo, home=home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (repo / "vendor" / "legacy.py").read_text() == LEGACY
    assert "vendor/" not in done.stdout
    if hook == "nograd-lint":
        assert findings(done.stdout) == markers([repo / "legacy.py"], repo)
    else:
        assert (repo / "legacy.py").read_text() != LEGACY
