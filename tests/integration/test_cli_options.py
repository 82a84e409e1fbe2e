"""The command line as ruff and flake8 users expect it: configuration files, exclusion under
pre-commit, machine-readable output, diffs git applies, warnings and usage errors, file-level
noqa, opt-in rules, large files, colour, the summary line and progress."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nograd_lint.rules import RULES
from tests.fixture_programs import ROOT
from tests.integration.tools import (
    FLAKE8, NOGRAD_LINT, clean_env, finding_rows, findings, git, new_git_repo, run,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LEGACY = textwrap.dedent("""\
    import torch
    from torch.autograd import Variable
    x = Variable(torch.ones(2), volatile=True)
    x.volatile = False
""")
OPT_IN = sorted(code for code, rule in RULES.items() if not rule.default_enabled)
# A no_grad block NG106 (opt-in) proposes to turn into inference_mode.
INFERENCE = textwrap.dedent("""\
    import torch
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():
        print(model(torch.ones(2)).sum().item())
""")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "legacy.py").write_text(LEGACY)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "old.py").write_text(LEGACY)
    return tmp_path


def codes(output: str) -> list[str]:
    return [row["code"] for row in finding_rows(output)]


# ----------------------------------------------------------------------------- --config


def test_config_reads_any_toml_file(project):
    (project / "ci.toml").write_text('[tool.nograd-lint]\nselect = ["NG302"]\n')
    done = run(NOGRAD_LINT, "--config", "ci.toml", "legacy.py", cwd=project)
    assert done.returncode == 1 and codes(done.stdout) == ["NG302"], done.stderr


@pytest.mark.parametrize("text, message", [
    ("[tool.nograd-lint\nselect = 1\n", "not valid TOML"),
    ("[tool.other]\nx = 1\n", "no [tool.nograd-lint] table"),
    ('[tool.nograd-lint]\nselect = "NG3"\n', "'select' must be a list of strings"),
    ('[tool.nograd-lint]\nmax-file-size = "big"\n', "max-file-size: 'big' is not a size"),
])
def test_a_broken_config_file_is_a_usage_error(project, text, message):
    (project / "ci.toml").write_text(text)
    done = run(NOGRAD_LINT, "--config", "ci.toml", "legacy.py", cwd=project)
    assert done.returncode == 2 and message in done.stderr and done.stdout == "", done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_config_file_is_a_usage_error(project):
    done = run(NOGRAD_LINT, "--config", "missing.toml", "legacy.py", cwd=project)
    assert done.returncode == 2 and "missing.toml: no such configuration file" in done.stderr


def test_tomli_is_declared_where_tomllib_is_missing():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.replace(" ", "").startswith("tomli") and "python_version<'3.11'" in
               d.replace(" ", "").replace('"', "'") for d in dependencies), dependencies


# ----------------------------------------------------------------------------- exclusion


def test_exclude_applies_to_named_files_only_with_force_exclude(project):
    (project / "pyproject.toml").write_text('[tool.nograd-lint]\nexclude = ["vendor/"]\n')
    assert {path for path, _, _ in findings(run(NOGRAD_LINT, ".", cwd=project).stdout)} == {"./legacy.py"}
    named = run(NOGRAD_LINT, "legacy.py", "vendor/old.py", cwd=project)
    assert {path for path, _, _ in findings(named.stdout)} == {"legacy.py", "vendor/old.py"}
    forced = run(NOGRAD_LINT, "--force-exclude", "legacy.py", "vendor/old.py", cwd=project)
    assert {path for path, _, _ in findings(forced.stdout)} == {"legacy.py"}
    only_excluded = run(NOGRAD_LINT, "--force-exclude", "--fix", "vendor/old.py", cwd=project)
    assert only_excluded.returncode == 0 and "No Python files found" in only_excluded.stderr
    assert (project / "vendor" / "old.py").read_text() == LEGACY
    stdin = run(NOGRAD_LINT, "--force-exclude", "--stdin-filename", "vendor/old.py", cwd=project,
                stdin=LEGACY)
    assert stdin.returncode == 0 and stdin.stdout == ""


# ----------------------------------------------------------------------------- output


@pytest.mark.parametrize("output_format", ["json", "sarif", "github"])
def test_statistics_keep_machine_output_parseable(project, output_format):
    done = run(NOGRAD_LINT, "--format", output_format, "--statistics", "legacy.py", cwd=project)
    assert done.returncode == 1
    if output_format == "github":
        assert all(line.startswith("::error ") for line in done.stdout.splitlines())
    else:
        json.loads(done.stdout)
    assert "1     NG301 " in done.stderr and "Found" not in done.stdout


def test_text_output_ends_with_statistics_and_a_summary(project):
    done = run(NOGRAD_LINT, "--statistics", "legacy.py", cwd=project)
    lines = done.stdout.splitlines()
    assert codes(done.stdout) == ["NG301", "NG303", "NG302"]
    assert lines[3:] == [f"1     {code} {RULES[code].message}" for code in ("NG301", "NG302", "NG303")] + [
        "Found 3 findings (3 fixable with --fix)."]
    assert run(NOGRAD_LINT, "vendor", cwd=project).stdout.endswith(
        "Found 3 findings (3 fixable with --fix).\n")


def test_summary_counts_unsafe_fixes_and_fixed_findings(tmp_path):
    (tmp_path / "leaf.py").write_text(
        "import torch\nw = torch.ones(2, requires_grad=True)\nw += 1\n")
    assert run(NOGRAD_LINT, "leaf.py", cwd=tmp_path).stdout.splitlines()[-1] == (
        "Found 1 finding (0 fixable with --fix; 1 more with --fix --unsafe-fixes).")
    fixed = run(NOGRAD_LINT, "--fix", "--unsafe-fixes", "leaf.py", cwd=tmp_path)
    assert fixed.returncode == 0 and fixed.stdout == "Found 1 finding (1 fixed, 0 remaining).\n"
    assert run(NOGRAD_LINT, "leaf.py", cwd=tmp_path).stdout == ""  # nothing: no summary either


def test_diff_applies_with_git(tmp_path):
    repo = new_git_repo(tmp_path / "repo")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "model.py").write_text(LEGACY)
    for target in (".", "./pkg", str(repo / "pkg" / "model.py")):
        diff = run(NOGRAD_LINT, "--diff", target, cwd=repo)
        assert diff.returncode == 1
        assert diff.stdout.startswith("--- a/pkg/model.py\n+++ b/pkg/model.py\n"), diff.stdout
        (repo / "fix.patch").write_text(diff.stdout)
        git("apply", "--check", "fix.patch", cwd=repo)
    git("apply", "fix.patch", cwd=repo)
    assert run(NOGRAD_LINT, "pkg", cwd=repo).returncode == 0


def test_no_python_files_is_a_warning(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text(LEGACY)
    done = run(NOGRAD_LINT, "docs", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == ""
    assert done.stderr == "nograd-lint: warning: No Python files found under docs\n"


@pytest.mark.parametrize("args, message", [
    (["--diff", "--format", "json", "."], "--diff prints a unified diff, not --format json"),
    (["--diff", "--fix", "."], "drop --fix or --diff"),
    (["--diff", "--statistics", "."], "--statistics"),
    (["--explain", "NG301", "--list-rules"], "--explain and --list-rules cannot be combined"),
    (["--explain", "NG301", "legacy.py"], "--explain takes no paths"),
    (["--select", "", "."], "--select is empty"),
    (["--ignore", " , ", "."], "--ignore is empty"),
    (["--unsafe-fixes", "."], "--unsafe-fixes needs --fix or --diff"),
    (["--max-file-size", "lots", "."], "--max-file-size: 'lots' is not a size"),
])
def test_conflicting_or_empty_options_are_usage_errors(project, args, message):
    done = run(NOGRAD_LINT, *args, cwd=project)
    assert done.returncode == 2 and message in done.stderr and done.stdout == "", done.stderr


def test_file_level_flake8_noqa(project):
    (project / "quiet.py").write_text("# flake8: noqa\n" + LEGACY)
    (project / "inline.py").write_text(LEGACY.replace("x.volatile", "x.volatile  # flake8: noqa"))
    assert run(NOGRAD_LINT, "quiet.py", cwd=project).stdout == ""
    assert codes(run(NOGRAD_LINT, "inline.py", cwd=project).stdout) == ["NG301", "NG303", "NG302"]
    assert codes(run(FLAKE8, "quiet.py", cwd=project).stdout) == []


# ----------------------------------------------------------------------------- opt-in rules


@pytest.mark.skipif(not OPT_IN, reason="no opt-in rule is registered")
def test_a_prefix_never_selects_an_opt_in_rule(tmp_path):
    (tmp_path / "infer.py").write_text(INFERENCE)
    for prefix in ("NG", "NG1"):
        assert "NG106" not in codes(run(NOGRAD_LINT, "--select", prefix, "infer.py", cwd=tmp_path).stdout)
        assert "NG106" not in codes(run(FLAKE8, "--select", prefix, "infer.py", cwd=tmp_path).stdout)
    for selection in (["--select", "NG106"], ["--extend-select", "NG106"], ["--select", "NG,NG106"]):
        assert "NG106" in codes(run(NOGRAD_LINT, *selection, "infer.py", cwd=tmp_path).stdout)
        assert "NG106" in codes(run(FLAKE8, *selection, "infer.py", cwd=tmp_path).stdout)


# ----------------------------------------------------------------------------- large files


def test_a_file_over_the_size_limit_gets_a_notice_instead_of_minutes(tmp_path):
    block = "def evaluate_{0}(model, x):\n    v = Variable(x, volatile=True)\n    return model(v)\n\n"
    text = "import torch\nfrom torch.autograd import Variable\n\n" + "".join(
        block.format(number) for number in range(60_000))
    (tmp_path / "generated.py").write_text(text)
    assert len(text) > 5_000_000
    (tmp_path / "small.py").write_text(LEGACY)
    done = run(NOGRAD_LINT, "generated.py", "small.py", cwd=tmp_path)
    assert done.returncode == 1
    rows = [row for row in finding_rows(done.stdout) if row["path"] == "generated.py"]
    assert [(row["line"], row["code"]) for row in rows] == [("1", "NG001")]
    assert f"{len(text):,} bytes is over max-file-size (1,000,000 bytes)" in rows[0]["message"]
    assert codes(done.stdout).count("NG301") == 1  # small.py is linted as usual


def test_the_size_limit_is_configurable(project):
    limited = run(NOGRAD_LINT, "--max-file-size", "100", "legacy.py", cwd=project)
    assert codes(limited.stdout) == ["NG001"] and "over max-file-size (100 bytes)" in limited.stdout
    (project / "pyproject.toml").write_text('[tool.nograd-lint]\nmax-file-size = "1k"\n')
    assert codes(run(NOGRAD_LINT, "legacy.py", cwd=project).stdout) == ["NG301", "NG303", "NG302"]
    (project / "pyproject.toml").write_text("[tool.nograd-lint]\nmax-file-size = 50\n")
    assert codes(run(NOGRAD_LINT, "legacy.py", cwd=project).stdout) == ["NG001"]
    assert codes(run(NOGRAD_LINT, "--max-file-size", "0", "legacy.py", cwd=project).stdout) == [
        "NG301", "NG303", "NG302"]


def test_a_large_file_without_trigger_text_costs_nothing_and_gets_no_notice(tmp_path):
    (tmp_path / "data.py").write_text("TABLE = [\n" + "    1,\n" * 300_000 + "]\n")
    done = run(NOGRAD_LINT, "data.py", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == ""


# ----------------------------------------------------------------------------- terminal


def test_colour_follows_color_no_color_and_force_color(project):
    plain = run(NOGRAD_LINT, "legacy.py", cwd=project, env=clean_env(FORCE_COLOR="", NO_COLOR=""))
    assert "\033[" not in plain.stdout  # a pipe gets no colour
    forced = run(NOGRAD_LINT, "legacy.py", cwd=project, env=clean_env(FORCE_COLOR="1", NO_COLOR=""))
    always = run(NOGRAD_LINT, "--color", "always", "legacy.py", cwd=project,
                 env=clean_env(NO_COLOR="1"))
    for colored in (forced, always):
        assert "\033[1;31mNG301\033[0m" in colored.stdout
        assert [line for line in colored.stdout.splitlines() if "NG30" in line]
    never = run(NOGRAD_LINT, "--color", "never", "legacy.py", cwd=project,
                env=clean_env(FORCE_COLOR="1"))
    assert "\033[" not in never.stdout and never.stdout == plain.stdout
    no_color = run(NOGRAD_LINT, "legacy.py", cwd=project, env=clean_env(NO_COLOR="1", FORCE_COLOR="1"))
    assert "\033[" not in no_color.stdout


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, str, float]:
    """Run the CLI with standard output to a file and standard error on a pseudo-terminal;
    returns the exit status, both outputs and how long the run took."""
    controller, terminal = pty.openpty()
    started = time.monotonic()
    with open(cwd / "stdout.txt", "w+") as stdout:
        process = subprocess.Popen([*NOGRAD_LINT, *args], cwd=cwd, stdout=stdout,
                                   stderr=terminal, env=clean_env())
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process is done with the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=600)
        elapsed = time.monotonic() - started
        os.close(controller)
        stdout.seek(0)
        return process.returncode, stdout.read(), b"".join(chunks).decode(errors="replace"), elapsed


def test_progress_on_a_terminal_for_long_runs_only(tmp_path):
    # Files that libcst must analyse, enough for a run of several seconds on one core.
    source = tmp_path / "src"
    source.mkdir()
    body = LEGACY + "".join(f"def step_{n}(model, x):\n    return model(x) + {n}\n\n"
                            for n in range(1000))
    for number in range(16):
        (source / f"m{number:02d}.py").write_text(body)
    code, stdout, terminal, elapsed = _run_on_a_terminal(["--jobs", "1", "src"], tmp_path)
    assert code == 1 and stdout.endswith("(48 fixable with --fix).\n"), stdout[-200:]
    if elapsed < 3:
        pytest.skip(f"the run took {elapsed:.1f} s: too fast here to need a progress line")
    assert "nograd-lint: 16/16 files" in terminal and terminal.endswith("\r\033[K"), terminal
    quick_code, _, quiet, _ = _run_on_a_terminal(["src/m00.py"], tmp_path)
    assert quick_code == 1 and quiet == ""
    piped = run(NOGRAD_LINT, "--jobs", "1", "src", cwd=tmp_path)
    assert piped.stderr == "" and piped.stdout == stdout


# ----------------------------------------------------------------------------- NG301's message

VOLATILE_USES = textwrap.dedent("""\
    import torch.nn.functional as F
    from torch.autograd import Variable

    def optimize(model, optimizer, state, next_state, reward, gamma):
        q = model(state).max(1)[0]
        target = reward + gamma * model(Variable(next_state, volatile=True)).max(1)[0]
        loss = F.smooth_l1_loss(q, target)
        optimizer.zero_grad()
        loss.backward()

    def td_loss(model, state, next_state, reward):
        expected = reward + model(Variable(next_state, volatile=True)).max(1)[0]
        return F.mse_loss(model(state).max(1)[0], expected)

    def validate(model, criterion, images, labels, log):
        output = model(Variable(images, volatile=True))
        loss = criterion(output, labels)
        log(loss.item())

    def legacy(x):
        return Variable(x, volatile=False)
""")


def test_ng301_says_what_changed_and_most_strongly_for_trained_values(tmp_path):
    (tmp_path / "rl.py").write_text(VOLATILE_USES)
    done = run(NOGRAD_LINT, "--select", "NG301", "rl.py", cwd=tmp_path)
    messages = {int(row["line"]): row["message"] for row in finding_rows(done.stdout)}
    assert sorted(messages) == [6, 12, 16, 21]
    for trained in (6, 12):  # backpropagated here, or a loss returned to the caller
        assert "gradients now flow through this value into the loss that is backpropagated" in messages[trained]
        assert "'.detach()' the value" in messages[trained]
    assert messages[16] == RULES["NG301"].message  # a validation loss that is only logged
    assert "used to stop gradients here" in messages[16] and "torch.no_grad()" in messages[16]
    assert "'volatile=False' was always the default" in messages[21]
    explained = run(NOGRAD_LINT, "--explain", "NG301", cwd=tmp_path).stdout
    assert "bootstrap target" in explained and "reward + gamma * model(Variable(" in explained
