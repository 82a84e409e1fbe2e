"""Parallel linting: ``--jobs N`` prints exactly what ``--jobs 1`` prints, and a worker process
that dies (a crash in libcst's native parser, the OOM killer...) is reported by file, not hung
on, while every other file is still linted.

Crashes are simulated without any hook in the linter: a ``sitecustomize`` module put on the
subprocess' PYTHONPATH wraps ``libcst.parse_module`` so that it kills its process (or raises)
on source containing a marker.  Worker processes run it too, whether forked or spawned.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixture_programs import fixture_paths

TRIGGER = "import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2), volatile=True)\n"
TIMEOUT = 180

SHIM = textwrap.dedent('''\
    import ast
    import os

    import libcst

    _parse_module = libcst.parse_module


    def parse_module(source, *args, **kwargs):
        text = source if isinstance(source, str) else source.decode("latin-1")
        if "RAISE_IN_THE_PARSER" in text:
            raise RuntimeError("simulated bug")
        if "CRASH_THE_PARSER" in text:
            once = os.environ.get("CRASH_ONLY_ONCE")  # a flag file: crash the first time only
            if not once or not os.path.exists(once):
                if once:
                    open(once, "w").close()
                os._exit(70)  # dies at once, like a segfault: no exception, no cleanup
        return _parse_module(source, *args, **kwargs)


    libcst.parse_module = parse_module
    _ast_parse = ast.parse


    def ast_parse(source, *args, **kwargs):
        text = source if isinstance(source, str) else source.decode("latin-1")
        if "CRASH_THE_AST_PARSER" in text:
            os._exit(70)
        return _ast_parse(source, *args, **kwargs)


    ast.parse = ast_parse
''')


def run(*args: str, cwd: Path, shim: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = dict(os.environ, **env)
    if shim is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(shim), environment.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "nograd_lint", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("shim")
    (directory / "sitecustomize.py").write_text(SHIM)
    return directory


def _top_level_pieces() -> list[str]:
    """Each fixture's top-level statements, one per piece, behind the fixture's imports."""
    pieces = []
    for path in fixture_paths():
        text = path.read_text()
        lines = text.splitlines(keepends=True)
        body = ast.parse(text).body
        imports = "".join("".join(lines[n.lineno - 1:n.end_lineno]) for n in body
                          if isinstance(n, (ast.Import, ast.ImportFrom)))
        for node in body:
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
                pieces.append(imports + "".join(lines[first - 1:node.end_lineno]))
    return pieces


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """2,000 files cut from the fixtures into 20 packages, a few of them broken."""
    root = tmp_path_factory.mktemp("corpus")
    pieces = _top_level_pieces()
    for index in range(2000):
        package = root / f"pkg{index % 20:02d}"
        package.mkdir(exist_ok=True)
        text = pieces[index % len(pieces)] + f"# file {index}\n"
        if index % 250 == 0:
            text = f"{TRIGGER}def broken(:\n"
        (package / f"mod{index:04d}.py").write_text(text)
    return root


def test_parallel_output_is_byte_identical_to_serial(corpus):
    serial = run("--jobs", "1", ".", cwd=corpus)
    parallel = run("--jobs", "3", ".", cwd=corpus)
    assert parallel.stdout == serial.stdout and parallel.stderr == serial.stderr == ""
    assert parallel.returncode == serial.returncode == 1
    codes = {line.split()[1] for line in serial.stdout.splitlines()[:-1]}  # the summary aside
    assert {"NG001", "NG101", "NG301", "NG303"} <= codes  # the corpus really is analysed
    assert serial.stdout.count(" NG001 ") == 8


def _project(root: Path, healthy: int, **special: str) -> Path:
    width = max(2, len(str(healthy - 1)))
    for index in range(healthy):
        (root / f"healthy{index:0{width}d}.py").write_text(TRIGGER)
    for name, marker in special.items():
        (root / name).write_text(f"{TRIGGER}# {marker}\n")
    return root


def _linted(stdout: str) -> set[str]:
    return {line.split(":")[0] for line in stdout.splitlines() if not line.startswith("Found ")}


def test_a_crashing_worker_is_reported_and_the_other_files_are_linted(tmp_path, shim):
    _project(tmp_path, 30, **{"crash_a.py": "CRASH_THE_PARSER", "crash_b.py": "CRASH_THE_PARSER",
                              "bug.py": "RAISE_IN_THE_PARSER"})
    done = run("--jobs", "2", ".", cwd=tmp_path, shim=shim)
    assert done.returncode == 1
    assert _linted(done.stdout) == {f"./healthy{i:02d}.py" for i in range(30)}
    assert done.stdout.count(" NG301 ") == 30
    assert sorted(done.stderr.splitlines()) == [
        "nograd-lint: error: ./bug.py: not linted: internal error (RuntimeError: simulated bug); "
        "please report this",
        "nograd-lint: error: ./crash_a.py: not linted: the worker process linting it crashed",
        "nograd-lint: error: ./crash_b.py: not linted: the worker process linting it crashed",
    ]


def test_a_worker_that_died_once_costs_no_findings(tmp_path, shim):
    _project(tmp_path, 30, **{"flaky.py": "CRASH_THE_PARSER"})
    done = run("--jobs", "2", ".", cwd=tmp_path, shim=shim, CRASH_ONLY_ONCE=str(tmp_path / "crashed"))
    assert (tmp_path / "crashed").exists(), "the simulated crash did not happen"
    assert done.stderr == ""
    assert done.stdout == run("--jobs", "1", ".", cwd=tmp_path).stdout
    assert "./flaky.py" in _linted(done.stdout)


def test_a_worker_dying_while_indexing_costs_only_its_file(tmp_path, shim):
    # From 100 files the index parses in worker processes, which the lint then reuses: one
    # dying there leaves its batch unindexed, and the lint, in fresh workers, names the file.
    _project(tmp_path, 119, **{"crash_index.py": "CRASH_THE_AST_PARSER"})
    done = run("--jobs", "2", ".", cwd=tmp_path, shim=shim)
    assert done.returncode == 1
    assert _linted(done.stdout) == {f"./healthy{i:03d}.py" for i in range(119)}
    assert done.stderr == ("nograd-lint: error: ./crash_index.py: not linted: the worker "
                           "process linting it crashed\n")


def test_nothing_linted_because_every_worker_crashed_exits_2(tmp_path, shim):
    _project(tmp_path, 0, **{f"crash{i}.py": "CRASH_THE_PARSER" for i in range(3)})
    done = run("--jobs", "2", ".", cwd=tmp_path, shim=shim)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("the worker process linting it crashed") == 3


def test_a_bug_while_fixing_one_file_leaves_it_and_fixes_the_others(tmp_path, shim):
    _project(tmp_path, 2, **{"bug.py": "RAISE_IN_THE_PARSER"})
    done = run("--fix", ".", cwd=tmp_path, shim=shim)
    assert done.returncode == 1
    assert (tmp_path / "bug.py").read_text() == f"{TRIGGER}# RAISE_IN_THE_PARSER\n"
    assert (tmp_path / "healthy00.py").read_text().endswith("x = torch.ones(2)\n")
    assert "./bug.py: not linted: internal error (RuntimeError: simulated bug)" in done.stderr
