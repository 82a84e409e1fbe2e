"""Real repositories as test data, without keeping their code: export a repository's Python
files at a commit from a bare git mirror, and lint them as a user would.

The labelled corpora beside this file store only repository, commit, path, line and verdict
(``<name>_labels.csv``), and which repositories were read (``<name>_corpus.csv``); the code
itself comes from a local mirror (a bare git directory, such as the search tool's
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
LABEL_COLUMNS = ("repo", "commit", "path", "line", "code", "label", "reason")
CORPUS_COLUMNS = ("repo", "commit", "about")


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
    def key(self) -> tuple[str, str, str, int, str]:
        return (self.repo, self.commit, self.path, self.line, self.code)

    @property
    def cause(self) -> str:
        """The category a reason starts with (``framework: Lightning validation_step ...``)."""
        return self.reason.split(":", 1)[0].strip() if ":" in self.reason else "(no category)"


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of the CSV file ``path`` (rows whose first field starts with ``#`` are
    comments), each checked to have exactly ``columns``: a stray comma in a reason would
    otherwise shift or drop a field silently."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: header lacks {', '.join(sorted(missing))}")
        rows = []
        for row in reader:
            if row[columns[0]].startswith("#"):
                continue
            if None in row or None in row.values():
                raise ValueError(f"{path}:{reader.line_num}: expected the {len(columns)} fields "
                                 f"{', '.join(columns)} (quote a field that holds a comma)")
            rows.append(row)
    return rows


def read_labels(path: Path) -> list[Label]:
    labels = []
    for row in _rows(path, LABEL_COLUMNS):
        if row["label"] not in LABELS or not row["line"].isdigit():
            raise ValueError(f"{path}: {row['repo']} {row['path']}:{row['line']}: line must be a "
                             f"number and label one of {', '.join(LABELS)}")
        labels.append(Label(row["repo"], row["commit"], row["path"], int(row["line"]),
                            row["code"], row["label"], row["reason"]))
    return labels


def read_corpus(path: Path) -> list[tuple[str, str]]:
    """``(repo, commit)`` of every repository a corpus file lists: the ones read whether or not
    they have labels, so that a finding appearing there later shows up as unlabelled."""
    return [(row["repo"], row["commit"]) for row in _rows(path, CORPUS_COLUMNS)]


def corpus_of(labels_path: Path) -> Path:
    """The corpus file beside a labels file: ``ng1_labels.csv`` -> ``ng1_corpus.csv``."""
    return labels_path.with_name(labels_path.name.replace("_labels.csv", "_corpus.csv"))


def mirror_of(repo: str, mirrors: Path) -> Path:
    """The git directory of ``owner/name`` under ``mirrors`` (bare, or a checkout's ``.git``)."""
    fetched = mirrors / repo.replace("/", "+")
    for candidate in (fetched / "repo", fetched / "repo" / ".git", fetched,
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
    listed = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only",
                             commit], capture_output=True, text=True)
    if listed.returncode != 0:
        raise FileNotFoundError(f"commit {commit} of {repo} is not in {git_dir} (fetch a newer "
                                f"mirror): {listed.stderr.strip()}")
    names = listed.stdout.split("\n")
    for name in filter(lambda n: n.endswith(".py"), names):
        shown = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{name}"],
                               capture_output=True)
        if shown.returncode == 0:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(shown.stdout)
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text(commit)
    return target


def _nograd_lint(*args: str, cwd: Path = ROOT) -> str:
    """What this checkout's nograd-lint prints for ``args``."""
    done = subprocess.run([sys.executable, "-m", "nograd_lint", *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        raise RuntimeError(f"nograd-lint {' '.join(args)} failed in {cwd}: {done.stderr}")
    return done.stdout


def rules_on_by_default() -> list[str]:
    """The codes a plain run enables, from ``--list-rules`` (``NG101  on   fix:...``)."""
    return [fields[0] for fields in map(str.split, _nograd_lint("--list-rules").splitlines())
            if len(fields) > 1 and fields[1] == "on"]


def lint(directory: Path, *options: str) -> list[dict]:
    """nograd-lint's JSON findings for ``directory``, paths relative to it.  Without the
    cache: it would only add files to the exported snapshot."""
    findings = json.loads(_nograd_lint("--format", "json", "--exit-zero", "--no-cache", *options,
                                       ".", cwd=directory))
    for finding in findings:
        finding["path"] = Path(finding["path"]).as_posix().removeprefix("./")
    return findings
