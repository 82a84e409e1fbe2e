"""The project index and its cache, through the command line and flake8 (as subprocesses):
callers in other files decide whether a helper runs without gradients, also when only the
helper's file is linted, and the cache changes no finding whatever state it is in."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.integration.tools import FLAKE8, NOGRAD_LINT, findings, run

HELPER = """\
import torch


def evaluate(model, loader):
    for x in loader:
        model(x)
"""
FLAGGED = ("b.py", 6, "NG101")
CALLER_WITHOUT_GRAD = """\
import torch
from b import evaluate


def main(model, val_loader):
    with torch.no_grad():
        evaluate(model, val_loader)
"""
CALLER_WITH_GRAD = """\
import b


def once(model, loader):
    b.evaluate(model, loader)
"""
LEGACY = "import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2))\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "b.py").write_text(HELPER)
    (tmp_path / "a.py").write_text(CALLER_WITHOUT_GRAD)
    return tmp_path


def lint(project: Path, *args: str):
    done = run(NOGRAD_LINT, *args, cwd=project)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    return done


def ng101(output: str) -> set[tuple[str, int, str]]:
    return {(os.path.normpath(path), line, code) for path, line, code in findings(output)
            if code == "NG101"}


def cache_entries(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns
            for p in directory.rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", [NOGRAD_LINT, FLAKE8], ids=["cli", "flake8"])
@pytest.mark.parametrize("named", [".", "b.py"], ids=["project", "only-the-helper"])
def test_a_helper_is_flagged_only_when_some_caller_has_gradients(project, command, named):
    # Naming only b.py, as pre-commit does with the changed files, still sees a.py and c.py.
    assert ng101(run(command, "--select", "NG", named, cwd=project).stdout) == set()
    (project / "c.py").write_text(CALLER_WITH_GRAD)
    assert ng101(run(command, "--select", "NG", named, cwd=project).stdout) == {FLAGGED}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_left_to_its_callers_is_linted_as_without_the_screen(project, jobs):
    # With one job the lint settles the index's own parse and screen of b.py under its callers;
    # with two it parses again in a worker: both must find what the unscreened analysis finds.
    (project / "c.py").write_text(CALLER_WITH_GRAD)
    for named in (".", "b.py"):
        screened = ng101(lint(project, "--select", "NG", "--jobs", jobs, named).stdout)
        unscreened = ng101(lint(project, "--select", "NG", "--no-prefilter", named).stdout)
        assert screened == unscreened == {FLAGGED}


def test_a_caller_without_torch_of_a_non_ascii_name_is_indexed(project):
    # c.py never mentions torch: it is indexed because it names the helper, whole; it calls
    # it with gradients, a.py without.
    for name, text in (("b.py", HELPER), ("a.py", CALLER_WITHOUT_GRAD), ("c.py", CALLER_WITH_GRAD)):
        (project / name).write_text(text.replace("evaluate", "evaluate_é"), encoding="utf-8")
    assert ng101(lint(project, "--select", "NG", ".").stdout) == {FLAGGED}
    (project / "c.py").unlink()
    assert ng101(lint(project, "--select", "NG", ".").stdout) == set()


@pytest.mark.parametrize("command", [NOGRAD_LINT, FLAKE8], ids=["cli", "flake8"])
def test_standard_input_sees_the_callers_of_the_file_it_stands_for(project, command):
    name_option = "--stdin-filename" if command is NOGRAD_LINT else "--stdin-display-name"
    lint_stdin = lambda: run(command, "--select", "NG", name_option, "b.py", "-",  # noqa: E731
                             cwd=project, stdin=HELPER).stdout
    assert ng101(lint_stdin()) == set()
    (project / "c.py").write_text(CALLER_WITH_GRAD)
    assert ng101(lint_stdin()) == {FLAGGED}


def test_the_cache_is_reused_and_follows_edits_in_other_files(project):
    (project / "legacy.py").write_text(LEGACY)  # findings with fixes, kept in the cache
    cold = lint(project, "--format", "json", ".")
    cache = project / ".nograd-lint-cache"
    assert (cache / ".gitignore").read_text() == "*\n"
    tag = (cache / "CACHEDIR.TAG").read_text()
    assert tag.startswith("Signature: 8a477f597d28d172789f06886806bc55")
    entries = cache_entries(cache)
    warm = lint(project, "--format", "json", ".")
    assert json.loads(warm.stdout) == json.loads(cold.stdout)
    assert any(row["fixable"] for row in json.loads(warm.stdout))
    assert cache_entries(cache) == entries  # nothing re-indexed or re-linted
    # An edit of a caller changes what the unchanged helper's file says.
    (project / "c.py").write_text(CALLER_WITH_GRAD)
    assert ng101(lint(project, ".").stdout) == {FLAGGED}
    (project / "c.py").unlink()
    assert ng101(lint(project, ".").stdout) == set()
    assert ng101(lint(project, "--no-cache", ".").stdout) == set()


INIT_HELPER = """\
import torch


def fill_(tensor, value):
    tensor.fill_(value)
"""
INIT_CALLER = """\
import torch
from init import fill_


def build():
    layer = torch.nn.Linear(2, 2)
    fill_({argument}, 0.5)
    return layer
"""


def test_what_a_caller_passes_re_lints_the_unchanged_helper(tmp_path):
    # Only the argument changes, not the grad mode at the call: the cached findings of
    # init.py must still follow it.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "init.py").write_text(INIT_HELPER)
    caller = tmp_path / "model.py"
    flagged = {("init.py", 5, "NG201")}

    def ng201(*options: str) -> set[tuple[str, int, str]]:
        return {(os.path.normpath(path), line, code) for path, line, code
                in findings(lint(tmp_path, "--select", "NG2", *options, ".").stdout)
                if code == "NG201"}

    caller.write_text(INIT_CALLER.format(argument="torch.empty(2, 2)"))
    assert ng201() == set()
    caller.write_text(INIT_CALLER.format(argument="layer.weight"))
    assert ng201() == flagged
    assert ng201() == flagged == ng201("--no-cache") == ng201("--no-prefilter", "--no-cache")
    caller.write_text(INIT_CALLER.format(argument="layer.weight.data"))
    assert ng201() == set()


def test_a_helper_without_torch_is_linted_where_a_caller_passes_it_a_leaf(tmp_path):
    # init.py never mentions torch: its text rules every rule out, unless a caller passes its
    # functions a leaf (it is indexed because it names model.py's build).
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "init.py").write_text(INIT_HELPER.replace("import torch\n", "import model\n")
                                      + "\n\ndef rebuild():\n    return model.build()\n")
    caller = tmp_path / "model.py"
    for argument, expected in (("layer.weight", {("init.py", 5, "NG201")}),
                               ("torch.empty(2, 2)", set())):
        caller.write_text(INIT_CALLER.format(argument=argument))
        for options in ((), ("--jobs", "1"), ("--no-prefilter",)):
            found = findings(lint(tmp_path, "--select", "NG2", "--no-cache", *options, ".").stdout)
            assert {(os.path.normpath(p), line, code) for p, line, code in found} == expected


def test_a_helper_without_torch_that_names_no_caller_is_indexed_for_its_callers(tmp_path):
    # helpers/init.py names nothing the files with torch define: it is indexed because
    # model.py imports from it, and what model.py passes its fill_ is then known.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "helpers").mkdir()
    (tmp_path / "helpers" / "__init__.py").write_text("")
    (tmp_path / "helpers" / "init.py").write_text(INIT_HELPER.replace("import torch\n", ""))
    caller = tmp_path / "model.py"
    for argument, expected in (("layer.weight", {("helpers/init.py", 4, "NG201")}),
                               ("torch.empty(2, 2)", set())):
        caller.write_text(INIT_CALLER.format(argument=argument).replace(
            "from init import", "from helpers.init import"))
        for options in ((), ("--jobs", "1"), ("--no-prefilter",)):
            found = findings(lint(tmp_path, "--select", "NG2", "--no-cache", *options, ".").stdout)
            assert {(os.path.normpath(p), line, code) for p, line, code in found} == {
                (os.path.normpath(p), line, code) for p, line, code in expected}


def test_damaged_cache_entries_are_ignored(project):
    (project / "c.py").write_text(CALLER_WITH_GRAD)
    expected = lint(project, "--no-cache", ".").stdout
    lint(project, ".")
    damage = [b"", b"\x00\xff garbage", b"\xe3\x02\x00\x00\x00"]  # empty, junk, a cut-off tuple
    entries = sorted(p for p in (project / ".nograd-lint-cache").rglob("*")
                     if p.is_file() and p.parent.name in ("index", "results"))
    assert entries
    for number, entry in enumerate(entries):
        entry.write_bytes(damage[number % len(damage)])
    again = lint(project, ".")
    assert again.stdout == expected and again.stderr == ""
    assert lint(project, ".").stdout == expected  # the entries were written anew


def test_a_cache_that_cannot_be_written_is_a_warning(project):
    (project / "c.py").write_text(CALLER_WITH_GRAD)
    expected = lint(project, "--no-cache", ".")
    (project / "not-a-directory").write_text("")
    done = lint(project, "--cache-dir", "not-a-directory/cache", ".")
    assert (done.stdout, done.returncode) == (expected.stdout, expected.returncode)
    assert done.stderr.startswith("nograd-lint: warning: cannot write the cache")
    if os.geteuid() != 0:  # root writes anyway
        read_only = project / "read-only"
        read_only.mkdir(mode=0o555)
        done = lint(project, "--cache-dir", str(read_only), ".")
        assert (done.stdout, done.returncode) == (expected.stdout, expected.returncode)


def test_where_the_cache_goes(project):
    lint(project, "--no-cache", ".")
    assert not (project / ".nograd-lint-cache").exists()
    lint(project, "--cache-dir", "elsewhere", ".")
    assert (project / "elsewhere" / "CACHEDIR.TAG").is_file()
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.nograd-lint]
        cache-dir = "build/lint-cache"
        """))
    lint(project, "b.py")
    assert (project / "build" / "lint-cache" / ".gitignore").is_file()
    assert not (project / ".nograd-lint-cache").exists()


def test_outside_a_project_the_named_directory_is_indexed_without_a_cache(tmp_path):
    (tmp_path / "b.py").write_text(HELPER)
    (tmp_path / "a.py").write_text(CALLER_WITHOUT_GRAD)
    assert ng101(lint(tmp_path, ".").stdout) == set()
    (tmp_path / "c.py").write_text(CALLER_WITH_GRAD)
    assert ng101(lint(tmp_path, ".").stdout) == {FLAGGED}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py", "c.py"]


def test_a_project_indexed_by_worker_processes_is_linted_as_by_one(tmp_path):
    # From 100 files to parse, the index parses and screens in worker processes, in batches
    # dealt out by size; the callers it joins must be the same as one process finds.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    for number in range(120):
        caller = CALLER_WITH_GRAD if number % 3 == 0 else CALLER_WITHOUT_GRAD
        helper = HELPER.replace("evaluate", f"evaluate_{number}")
        (tmp_path / f"b{number}.py").write_text(helper + "\n# padding\n" * number)
        (tmp_path / f"a{number}.py").write_text(
            caller.replace("from b import evaluate", f"from b{number} import evaluate_{number}")
            .replace("b.evaluate", f"b{number}.evaluate_{number}").replace("import b\n",
                                                                          f"import b{number}\n")
            .replace("    evaluate(", f"    evaluate_{number}("))
    expected = {(f"b{number}.py", 6, "NG101") for number in range(0, 120, 3)}
    for jobs in ("1", "2"):
        assert ng101(lint(tmp_path, "--select", "NG", "--no-cache", "--jobs", jobs, ".").stdout) \
            == expected
