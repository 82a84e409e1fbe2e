"""README.md against the code it documents: every registered rule, every configuration key,
the JSON fields, the flake8 options and the pre-commit hooks, read from the code at test time
(rules and options are added by many hands)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from nograd_lint.rules import RULES
from tests.fixture_programs import ROOT
from tests.integration.tools import FLAKE8, NOGRAD_LINT, run

README = (ROOT / "README.md").read_text()


def section(heading: str) -> str:
    """The text under ``heading`` (a whole line such as ``### flake8``), up to the next heading
    of the same or a higher level; a ``#`` line inside a fenced code block is no heading."""
    level = len(heading.split()[0])
    lines = README.splitlines()
    assert heading in lines, f"README has no '{heading}' section"
    body, fenced = [], False
    for line in lines[lines.index(heading) + 1:]:
        fenced ^= line.startswith("```")
        if not fenced and re.match(rf"#{{1,{level}}} ", line):
            break
        body.append(line)
    return "\n".join(body)


def table_keys(text: str) -> list[str]:
    """The first column of every row of the Markdown tables in ``text``, backticks removed."""
    cells = re.findall(r"^\|\s*([^|]+?)\s*\|", text, re.M)
    return [cell.strip("`") for cell in cells if not set(cell) <= set("-: ")]


def test_rule_table_lists_exactly_the_registered_rules():
    documented = [key for key in table_keys(section("## Rules")) if key != "code"]
    assert sorted(documented) == sorted(RULES)


def test_every_configuration_key_has_a_row_with_its_default(tmp_path):
    # The CLI names every key it accepts when it meets one it does not.
    (tmp_path / "pyproject.toml").write_text("[tool.nograd-lint]\nnot-a-key = []\n")
    done = run(NOGRAD_LINT, ".", cwd=tmp_path)
    known = re.search(r"\(known: ([^)]*)\)", done.stderr)
    assert done.returncode == 2 and known, done.stderr
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \|", section("### Configuration"), re.M))
    for key in known[1].split(", "):
        assert key in rows, f"configuration key '{key}' is not in README's table"
        assert rows[key].strip(), f"configuration key '{key}' has no default in README"


def test_json_fields_are_the_documented_ones(tmp_path):
    (tmp_path / "legacy.py").write_text(
        "import torch\nfrom torch.autograd import Variable\nx = Variable(torch.ones(2))\n")
    rows = json.loads(run(NOGRAD_LINT, "--format", "json", "legacy.py", cwd=tmp_path).stdout)
    assert rows
    documented = [key for key in table_keys(section("### Output formats")) if key != "field"]
    assert all(list(row) == documented for row in rows)


def test_flake8_options_are_documented():
    options = set(re.findall(r"--(nograd-[a-z-]+)", run(FLAKE8, "--help", cwd=ROOT).stdout))
    assert options
    flake8_section = section("### flake8")
    assert all(re.search(rf"^{option} = ", flake8_section, re.M) for option in options), options


def test_pre_commit_hooks_are_documented():
    hooks = [hook["id"] for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())]
    assert hooks
    assert all(f"id: {hook}" in section("### pre-commit") for hook in hooks)


def test_ci_runs_the_readme_test_command():
    quick_start = re.search(r"```bash\n(.*?)```", section("## Quick start"), re.S)[1]
    test_command = quick_start.splitlines()[1].split("#")[0].strip()
    assert test_command in Path(ROOT / ".ci" / "run").read_text()


def test_every_command_line_option_is_in_the_usage_block():
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", run(NOGRAD_LINT, "--help", cwd=ROOT).stdout))
    assert {"--select", "--force-exclude", "--config", "--max-file-size", "--color"} <= options
    usage = re.search(r"```text\n(nograd-lint .*?)```", section("## Usage"), re.S)[1]
    documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", usage))
    assert options - {"--help"} == documented
