"""bench/realworld/score.py on a labelled corpus of its own: a tiny repository mirrored as a
bare git directory, as the search tool's ``fetch`` leaves real ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fixture_programs import ROOT
from tests.integration.tools import git, new_git_repo, require_git, run

SCORE = (sys.executable, str(ROOT / "bench" / "realworld" / "score.py"))
REPO = "someone/tiny-gan"
HEADER = "repo,commit,path,line,code,label,reason\n"

EVALUATE = """\
import torch


def evaluate(model, batches):
    model.eval()
    total = 0.0
    for x in batches:
        total += model(x).sum().item()
    return total


def predict(model, x):
    return model(x).argmax(1)


def sample_images(generator, z, archive):
    images = generator(z)
    archive(images)  # a callback: where the output goes is not known here
"""
TEST_LOOP = """\
import torch


def test(model, batches):
    model.eval()
    return [model(x).tolist() for x in batches]
"""


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory) -> tuple[Path, str, str]:
    """A mirror directory holding ``someone/tiny-gan`` at two commits: the first with
    evaluate.py, the second adding a test loop.  Returns it and the two commits."""
    require_git()
    work = new_git_repo(tmp_path_factory.mktemp("work") / "tiny-gan")
    (work / "evaluate.py").write_text(EVALUATE)
    (work / "README.md").write_text("not Python: never exported\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "evaluate", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work).strip()
    (work / "loops").mkdir()
    (work / "loops" / "test.py").write_text(TEST_LOOP)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "test loop", cwd=work)
    second = git("rev-parse", "HEAD", cwd=work).strip()
    into = tmp_path_factory.mktemp("mirrors")
    git("clone", "-q", "--bare", str(work), str(into / "someone+tiny-gan" / "repo"), cwd=into)
    return into, first, second


def _score(tmp_path: Path, mirrors: Path, labels: str, corpus: str | None = None):
    (tmp_path / "tiny_labels.csv").write_text(HEADER + labels)
    if corpus is not None:
        (tmp_path / "tiny_corpus.csv").write_text("repo,commit,about\n" + corpus)
    return run(SCORE, "--mirrors", mirrors, "--cache", tmp_path / "cache", "--labels",
               tmp_path / "tiny_labels.csv", cwd=tmp_path)


def _labels(commit: str) -> str:
    return (f"{REPO},{commit},evaluate.py,8,NG101,TP,eval-loop: only .item()\n"
            f"{REPO},{commit},evaluate.py,13,NG101,FP,names: a public forward for training\n"
            f"{REPO},{commit},evaluate.py,17,NG101,FN,sample-helper: output only saved\n")


def test_precision_recall_and_causes_from_labels(tmp_path, mirrors):
    into, first, _ = mirrors
    done = _score(tmp_path, into, _labels(first))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:7]}
    assert rows["NG101"] == ["1", "1", "1", "50%", "50%"]
    assert rows["NG104"] == ["0", "0", "0", "-", "-"]  # every rule of the family runs
    assert "NG101 names: 1" in done.stdout and "NG101 sample-helper: 1" in done.stdout
    assert "evaluate.py:17 NG101 (FN): sample-helper: output only saved" in done.stdout
    assert "unlabelled" not in done.stdout
    exported = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert exported == [".exported", "evaluate.py"]


def test_a_finding_without_a_label_fails_the_run(tmp_path, mirrors):
    into, first, _ = mirrors
    done = _score(tmp_path, into, _labels(first).splitlines(keepends=True)[0])
    assert done.returncode == 1
    assert f"unlabelled (1):\n  {REPO}@{first[:12]} evaluate.py:13 NG101 " in done.stdout


def test_repositories_of_the_corpus_file_are_scored_without_labels(tmp_path, mirrors):
    into, first, second = mirrors
    done = _score(tmp_path, into, _labels(first), corpus=f"{REPO},{second},read: one miss\n")
    assert done.returncode == 1
    unlabelled = done.stdout.split("unlabelled (3):\n")[1].splitlines()
    assert [line.split()[1:3] for line in unlabelled] == [
        ["evaluate.py:8", "NG101"], ["evaluate.py:13", "NG101"], ["loops/test.py:6", "NG101"]]
    assert all(line.split()[0] == f"{REPO}@{second[:12]}" for line in unlabelled)


@pytest.mark.parametrize("labels, message", [
    (f"{REPO},abc,evaluate.py,8,NG101,TP,eval-loop: a, b\n", "expected the 7 fields"),
    (f"{REPO},abc,evaluate.py,8,NG101,OK,eval-loop\n", "label one of TP, FP, FN"),
    (f"{REPO},{'0' * 40},evaluate.py,8,NG101,TP,eval-loop\n", "is not in"),
    (f"other/repo,{'0' * 40},evaluate.py,8,NG101,TP,eval-loop\n", "no mirror of other/repo"),
])
def test_unusable_input_is_a_clear_error(tmp_path, mirrors, labels, message):
    done = _score(tmp_path, mirrors[0], labels)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
