"""The flake8 plugin, through the real flake8 command: the same findings as the CLI, with
flake8's own selection, ``# noqa``, configuration files, stdin and syntax errors."""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from nograd_lint.rules import RULES
from tests.fixture_programs import ROOT, fixture_paths
from tests.integration.tools import (
    BROKEN, FLAKE8, NOGRAD_LINT, SELECTIONS, assert_flake8_prints_what_the_cli_prints,
    finding_lines, findings, fixtures_with_a_broken_file, markers, run,
)

OPT_IN = ",".join(sorted(code for code, rule in RULES.items() if not rule.default_enabled))
NOQA = textwrap.dedent("""\
    import torch
    from torch.autograd import Variable
    a = Variable(torch.ones(2), volatile=True)  # noqa: NG303
    b = Variable(torch.ones(2), volatile=True)  # noqa
    c = Variable(torch.ones(2), volatile=True)  # noqa:NG3
    d = Variable(torch.ones(2), volatile=True)
""")


def test_select_ng_reports_exactly_the_fixture_markers():
    # An opt-in rule only by its full code, as in the CLI.
    done = run(FLAKE8, "--select", f"NG,{OPT_IN}", "fixtures", cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert findings(done.stdout) == markers(fixture_paths(), ROOT)



@pytest.mark.parametrize("selection", [
    *(pytest.param(selection, id=name) for name, selection in SELECTIONS.items()),
    pytest.param((("--extend-select", OPT_IN), ("--extend-select", OPT_IN)),
                 id="extend-select-opt-in",
                 marks=pytest.mark.skipif(not OPT_IN, reason="no opt-in rule is registered")),
])
def test_flake8_prints_the_same_findings_as_the_cli(tmp_path, selection):
    """Opt-in rules stay off in plain flake8, as in the CLI, until selected."""
    project = fixtures_with_a_broken_file(tmp_path)
    assert_flake8_prints_what_the_cli_prints(NOGRAD_LINT, FLAKE8, project, "fixtures", selection)


@pytest.mark.parametrize("how", ["extend-ignore-code", "extend-ignore-family", "select-code"])
def test_flake8_selection_options(how):
    # A prefix selects no opt-in rule: their markers are not expected here.
    marked = {m for m in markers(fixture_paths(), ROOT) if RULES[m[2]].default_enabled}
    code = Counter(code for *_, code in marked).most_common(1)[0][0]
    family = code[:3]  # e.g. NG1 for NG101
    options, kept = {
        "extend-ignore-code": (["--select", "NG", "--extend-ignore", code], lambda c: c != code),
        "extend-ignore-family": (["--select", "NG", "--extend-ignore", family],
                                 lambda c: not c.startswith(family)),
        "select-code": (["--select", code], lambda c: c == code),
    }[how]
    done = run(FLAKE8, *options, "fixtures", cwd=ROOT)
    assert findings(done.stdout) == {m for m in marked if kept(m[2])}


def test_flake8_owns_noqa(tmp_path):
    (tmp_path / "quiet.py").write_text(NOQA)
    (tmp_path / "loud.py").write_text(re.sub(r"  # noqa.*", "", NOQA))
    quiet = run(FLAKE8, "--select", "NG", "quiet.py", cwd=tmp_path)
    assert {(line, code) for _, line, code in findings(quiet.stdout)} == {
        (3, "NG301"), (6, "NG301"), (6, "NG303")}
    cli = run(NOGRAD_LINT, "quiet.py", cwd=tmp_path)
    assert finding_lines(quiet.stdout) == finding_lines(cli.stdout)
    # The plugin never filters: with flake8's --disable-noqa every finding is back.
    unfiltered = run(FLAKE8, "--select", "NG", "--disable-noqa", "quiet.py", cwd=tmp_path).stdout
    loud = run(NOGRAD_LINT, "loud.py", cwd=tmp_path).stdout
    assert finding_lines(unfiltered) == finding_lines(loud.replace("loud.py", "quiet.py"))


# Two files so flake8 lints in parallel processes, which must see the options too.
EVALUATION = textwrap.dedent("""\
    import torch


    def check_model(model, inputs):
        return model(inputs)  # expect: NG101
""")
ALIAS = textwrap.dedent("""\
    import mytorch


    def legacy(inputs):
        return mytorch.autograd.Variable(inputs, volatile=True)  # expect: NG301, NG303
""")
SETTINGS = {"nograd-torch-modules": "mytorch", "nograd-eval-patterns": "^check_,^score_"}


@pytest.fixture
def aliased_project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "evaluation.py").write_text(EVALUATION)
    (tmp_path / "pkg" / "alias.py").write_text(ALIAS)
    return tmp_path


@pytest.mark.parametrize("config_file", ["setup.cfg", "tox.ini", ".flake8"])
def test_options_from_flake8_configuration_files(aliased_project, config_file):
    assert findings(run(FLAKE8, "--select", "NG", "pkg", cwd=aliased_project).stdout) == set()
    settings = "".join(f"{key} = {value}\n" for key, value in SETTINGS.items())
    (aliased_project / config_file).write_text(f"[flake8]\n{settings}")
    done = run(FLAKE8, "--select", "NG", "pkg", cwd=aliased_project)
    assert findings(done.stdout) == markers((aliased_project / "pkg").iterdir(), aliased_project)


@pytest.mark.parametrize("option, affected", [
    ("nograd-torch-modules", "alias.py"), ("nograd-eval-patterns", "evaluation.py")])
def test_each_option_on_the_command_line(aliased_project, option, affected):
    done = run(FLAKE8, "--select", "NG", f"--{option}", SETTINGS[option], "pkg",
               cwd=aliased_project)
    assert findings(done.stdout) == markers([aliased_project / "pkg" / affected], aliased_project)


def test_invalid_eval_pattern_is_a_usage_error(aliased_project):
    done = run(FLAKE8, "--nograd-eval-patterns", "check_(", "pkg", cwd=aliased_project)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--nograd-eval-patterns: invalid regular expression 'check_('" in done.stderr


def test_configured_no_grad_hooks(tmp_path):
    (tmp_path / "scorer.py").write_text(textwrap.dedent("""\
        import torch
        from mylib.engine import Evaluator


        class Scorer(Evaluator):
            def run_batch(self, model, batch):
                model.eval()
                return model(batch)
    """))
    assert "NG105" in run(FLAKE8, "--select", "NG", ".", cwd=tmp_path).stdout
    hooks = ("--nograd-no-grad-hooks", "mylib.engine.Evaluator.run_batch")
    assert findings(run(FLAKE8, "--select", "NG", *hooks, ".", cwd=tmp_path).stdout) == set()
    done = run(FLAKE8, "--nograd-no-grad-hooks", "run_batch", ".", cwd=tmp_path)
    assert done.returncode == 2 and "--nograd-no-grad-hooks" in done.stderr


PYTEST_STYLE = textwrap.dedent("""\
    import torch


    def test_accuracy(model, val_loader):
        model.eval()
        for inputs, labels in val_loader:
            assert model(inputs).argmax(1).eq(labels).all()  # expect: NG101
""")


@pytest.mark.parametrize("name, flagged", [("model.py", True), ("tests/test_model.py", False)])
def test_stdin_is_linted_under_the_display_name(tmp_path, name, flagged):
    """A test function in a test file may run models with grad enabled: the plugin must judge
    stdin by the name flake8 shows, as the CLI does with --stdin-filename."""
    done = run(FLAKE8, "--select", "NG", "--stdin-display-name", name, "-", cwd=tmp_path,
               stdin=PYTEST_STYLE)
    (tmp_path / "shown.py").write_text(PYTEST_STYLE)
    expected = {(name, line, code) for _, line, code in markers([tmp_path / "shown.py"], tmp_path)}
    assert findings(done.stdout) == (expected if flagged else set())
    cli = run(NOGRAD_LINT, "--stdin-filename", name, cwd=tmp_path, stdin=PYTEST_STYLE)
    assert finding_lines(done.stdout) == finding_lines(cli.stdout)


def test_plugin_leaves_syntax_errors_to_flake8(tmp_path):
    done = run(FLAKE8, "--select", "NG,E999", "--stdin-display-name", "shown.py", "-",
               cwd=tmp_path, stdin=BROKEN)
    assert [line.split()[1] for line in done.stdout.splitlines()] == ["E999"]
    assert done.stdout.startswith("shown.py:")
