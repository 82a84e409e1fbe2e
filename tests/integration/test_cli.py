"""The ``nograd-lint`` command, run as a subprocess the way users and CI run it."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.tools import finding_rows

LEGACY = textwrap.dedent("""\
    import torch
    from torch.autograd import Variable
    x = Variable(torch.ones(2), volatile=True)  # legacy inputs
    x.volatile = False
""")
CLEAN = "import torch\n\nwith torch.no_grad():\n    y = torch.ones(2) * 2\n"


def run(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nograd_lint", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "legacy.py").write_text(LEGACY)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path


def test_findings_exit_1_in_flake8_text_format(project):
    done = run("legacy.py", cwd=project)
    assert done.returncode == 1
    *lines, summary = done.stdout.splitlines()
    assert lines[0].startswith("legacy.py:3:5: NG301 'volatile=True' used to stop gradients")
    assert [line.split()[1] for line in lines] == ["NG301", "NG303", "NG302"]
    assert summary == "Found 3 findings (3 fixable with --fix)."


def test_clean_exit_0_and_exit_zero(project):
    assert run("clean.py", cwd=project).returncode == 0
    assert run("--exit-zero", "legacy.py", cwd=project).returncode == 0


@pytest.mark.parametrize("args", [["missing.py"], ["--select", "XX9"], ["--jobs", "0"],
                                  ["--explain", "NG999"], ["--format", "xml"]])
def test_usage_and_io_errors_exit_2_without_traceback(project, args):
    done = run(*args, cwd=project)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.strip()


def test_missing_path_next_to_a_good_one_is_reported_and_the_rest_linted(project):
    done = run("missing.py", "legacy.py", cwd=project)
    assert done.returncode == 1
    assert "missing.py: no such file or directory" in done.stderr
    assert "legacy.py:3:5: NG301" in done.stdout


def test_directory_with_an_unparseable_file_still_lints_the_others(project):
    (project / "broken.py").write_text("from torch.autograd import Variable\ndef f(:\n")
    done = run(".", cwd=project)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("./broken.py:2:") and " NG001 " in lines[0]
    assert any(line.startswith("./legacy.py:3:5: NG301") for line in lines)


def test_json_format_has_the_documented_fields(project):
    rows = json.loads(run("--format", "json", "legacy.py", cwd=project).stdout)
    assert rows[0] == {"path": "legacy.py", "line": 3, "column": 5, "code": "NG301",
                       "message": rows[0]["message"], "fixable": True, "fix_safety": "safe"}


def test_sarif_format_carries_rule_metadata(project):
    log = json.loads(run("--format", "sarif", "legacy.py", cwd=project).stdout)
    assert log["version"] == "2.1.0"
    driver = log["runs"][0]["tool"]["driver"]
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert {"NG001", "NG301", "NG302", "NG303"} <= set(rules)
    assert "## Example" in rules["NG301"]["help"]["text"]
    result = log["runs"][0]["results"][0]
    assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == "NG301"
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 3, "startColumn": 5}


def test_statistics(project):
    out = run("--statistics", "legacy.py", cwd=project).stdout
    assert "1     NG301 " in out and "1     NG303 " in out


def test_explain_and_list_rules(project):
    explained = run("--explain", "ng301", cwd=project)
    assert explained.returncode == 0 and "## Example" in explained.stdout and "Use instead:" in explained.stdout
    listed = run("--list-rules", cwd=project).stdout
    from nograd_lint.rules import RULES
    assert [line.split()[0] for line in listed.splitlines()] == sorted(RULES)


def test_stdin_with_and_without_a_filename(project):
    done = run("-", cwd=project, stdin=LEGACY)
    assert done.returncode == 1 and done.stdout.startswith("<stdin>:3:5: NG301")
    named = run("--stdin-filename", "pkg/mod.py", cwd=project, stdin=LEGACY)
    assert named.stdout.startswith("pkg/mod.py:3:5: NG301")


def test_select_ignore_and_extend_select(project):
    codes = lambda *a: [row["code"] for row in finding_rows(run(*a, "legacy.py", cwd=project).stdout)]
    assert codes("--select", "NG302") == ["NG302"]
    assert codes("--ignore", "NG30") == []
    assert codes("--select", "NG301", "--extend-select", "NG303") == ["NG301", "NG303"]


def test_pyproject_configuration(project):
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.nograd-lint]
        ignore = ["NG303"]
        per-file-ignores = {"legacy.py" = ["NG302"]}
        exclude = ["skipped/"]
    """))
    (project / "skipped").mkdir()
    (project / "skipped" / "old.py").write_text(LEGACY)
    done = run(".", cwd=project)
    assert [row["code"] for row in finding_rows(done.stdout)] == ["NG301"]
    (project / "pyproject.toml").write_text("[tool.nograd-lint]\nselekt = ['NG']\n")
    bad = run(".", cwd=project)
    assert bad.returncode == 2 and "unknown key 'selekt'" in bad.stderr


def test_noqa_comments(project):
    (project / "quiet.py").write_text(LEGACY.replace("# legacy inputs", "# noqa: NG301,NG303"))
    assert [row["code"] for row in finding_rows(run("quiet.py", cwd=project).stdout)] == ["NG302"]


def test_fix_writes_atomically_keeps_mode_and_is_idempotent(project):
    target = project / "legacy.py"
    target.chmod(0o751)
    done = run("--fix", "legacy.py", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    # The Variable import the fix left unused goes too.
    assert target.read_text() == "import torch\nx = torch.ones(2)  # legacy inputs\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert not [p for p in project.iterdir() if p.name.startswith(".nograd-lint-")]
    again = run("--fix", "legacy.py", cwd=project)
    assert again.returncode == 0 and again.stderr == "" and target.read_text().endswith("(2)  # legacy inputs\n")


def test_diff_prints_without_writing(project):
    done = run("--diff", "legacy.py", cwd=project)
    assert done.returncode == 1
    assert "-x = Variable(torch.ones(2), volatile=True)  # legacy inputs" in done.stdout
    assert "+x = torch.ones(2)  # legacy inputs" in done.stdout
    assert (project / "legacy.py").read_text() == LEGACY
    assert run("--diff", "clean.py", cwd=project).returncode == 0


def test_fix_never_touches_an_unparseable_or_read_only_file(project):
    broken = project / "broken.py"
    broken.write_text("from torch.autograd import Variable\nx = Variable(1, volatile=True\n")
    run("--fix", "broken.py", cwd=project)
    assert broken.read_text().endswith("volatile=True\n")
    readonly = project / "legacy.py"
    readonly.chmod(0o444)
    done = run("--fix", "legacy.py", cwd=project)
    assert readonly.read_text() == LEGACY and "cannot write fixes: file is read-only" in done.stderr
    assert done.returncode == 1


def test_fix_on_stdin_prints_the_fixed_source(project):
    done = run("--fix", "-", cwd=project, stdin=LEGACY)
    assert done.stdout == "import torch\nx = torch.ones(2)  # legacy inputs\n"


def test_parallel_jobs_give_the_same_sorted_output(project):
    for index in range(40):
        (project / f"m{index:02d}.py").write_text(LEGACY)
    serial = run("--jobs", "1", ".", cwd=project)
    parallel = run("--jobs", "2", ".", cwd=project)
    assert serial.stdout == parallel.stdout and serial.stdout.count("NG301") == 41


def _loads_libcst(path: str, cwd: Path) -> bool:
    """Does linting ``path`` import libcst?  ``-X importtime`` names every module executed (a
    lazily loaded one when first used), on standard error."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "nograd_lint", "--no-cache",
                           path], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]
    return any(name == "libcst" or name.startswith("libcst.") for name in imported)


@pytest.mark.parametrize("source", ["x = [1, 2]\nprint(sum(x))\n",  # no torch: the text filter
                                    CLEAN])  # torch, but the screen rules every rule out
def test_files_filtered_out_never_load_libcst(project, source):
    (project / "filtered.py").write_text(source)
    assert not _loads_libcst("filtered.py", project)
    assert _loads_libcst("legacy.py", project)  # what the test would see if they did
