"""Real repositories as test data, without keeping their code: export a repository's Python
files at a commit from a bare git mirror, and lint them as a user would.

The labelled corpora beside this file store only repository, commit, path, line and verdict;
the code itself comes from a local mirror (a bare git directory, such as the search tool's
``fetch`` leaves under ``/work/.mirror/<owner>+<name>/repo``, or ``git clone --bare``).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
LABELS = ("TP", "FP", "FN")  # flagged and right, flagged and wrong, a bug the linter must flag


@dataclass(frozen=True)
class Label:
    """One verdict: ``TP``/``FP`` for a finding the linter reports, ``FN`` for a bug found by
    reading the code that it should report."""

    repo: str  # owner/name
    commit: str
    path: str  # inside the repository
    line: int
    code: str
    label: str
    reason: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.repo, self.path, self.line, self.code)


def read_labels(path: Path) -> list[Label]:
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle, skipinitialspace=True)
                if not row["repo"].startswith("#")]
    labels = [Label(r["repo"], r["commit"], r["path"], int(r["line"]), r["code"], r["label"],
                    r["reason"]) for r in rows]
    for label in labels:
        if label.label not in LABELS:
            raise ValueError(f"{path}: {label.key}: label must be one of {LABELS}")
    return labels


def mirror_of(repo: str, mirrors: Path) -> Path:
    """The bare git directory of ``owner/name`` under ``mirrors``."""
    for candidate in (mirrors / repo.replace("/", "+") / "repo", mirrors / repo.replace("/", "+"),
                      mirrors / f"{repo.split('/')[1]}.git"):
        if (candidate / "HEAD").exists():
            return candidate
    raise FileNotFoundError(f"no mirror of {repo} under {mirrors} (fetch it first)")


def export(repo: str, commit: str, mirrors: Path, into: Path) -> Path:
    """The repository's ``*.py`` files at ``commit``, written under ``into/<owner>+<name>``
    (once: an existing export is reused).  Files the mirror lacks (over its size limit) are
    skipped."""
    git_dir = mirror_of(repo, mirrors)
    target = into / f"{repo.replace('/', '+')}@{commit[:12]}"
    done = target / ".exported"
    if done.exists():
        return target
    names = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only",
                            commit], capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(lambda n: n.endswith(".py"), names):
        shown = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{name}"],
                               capture_output=True)
        if shown.returncode == 0:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(shown.stdout)
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(commit)
    return target


def lint(directory: Path, *options: str) -> list[dict]:
    """nograd-lint's JSON findings for ``directory``, paths relative to it."""
    done = subprocess.run([sys.executable, "-m", "nograd_lint", "--format", "json", "--exit-zero",
                           *options, "."], cwd=directory, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise RuntimeError(f"nograd-lint failed on {directory}: {done.stderr}")
    findings = json.loads(done.stdout)
    for finding in findings:
        finding["path"] = Path(finding["path"]).as_posix().removeprefix("./")
    return findings
