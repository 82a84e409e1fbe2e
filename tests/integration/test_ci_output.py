"""Output for CI: GitHub workflow annotations exactly as GitHub documents them, and SARIF that
the official SARIF 2.1.0 schema accepts (the schema ships in tests/data: no network here)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from nograd_lint.formats import github
from nograd_lint.rule import Finding
from tests.integration.tools import NOGRAD_LINT, finding_rows, fixtures_with_a_broken_file, run

SCHEMA = Path(__file__).resolve().parent.parent / "data" / "sarif-schema-2.1.0.json"
LEGACY = ("import torch\nfrom torch.autograd import Variable\n"
          "x = Variable(torch.ones(2), volatile=True)\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The fixtures and a file that does not parse (NG001), as a CI run would meet them."""
    return fixtures_with_a_broken_file(tmp_path_factory.mktemp("ci"))


def _text_findings(project: Path) -> list[dict]:
    return finding_rows(run(NOGRAD_LINT, "--select", "NG", "fixtures", cwd=project).stdout)


def test_github_annotations_in_the_documented_format(project):
    expected = [f"::error file={f['path']},line={f['line']},col={f['column']},"
                f"title={f['code']}::{f['message']}" for f in _text_findings(project)]
    done = run(NOGRAD_LINT, "--select", "NG", "--format", "github", "fixtures", cwd=project)
    assert done.returncode == 1
    assert done.stdout.splitlines() == expected
    assert any(",title=NG001::" in line for line in expected)


def test_github_escapes_properties(tmp_path):
    """A file name may hold the characters that end a property (',' and ':') or a command."""
    done = run(NOGRAD_LINT, "--format", "github", "--stdin-filename", "dir:a,b%c\r\nd.py",
               cwd=tmp_path, stdin=LEGACY)
    lines = done.stdout.splitlines()
    assert lines and all(
        line.startswith("::error file=dir%3Aa%2Cb%25c%0D%0Ad.py,line=3,col=5,title=NG3")
        for line in lines)


def test_github_escapes_message_data():
    """A message may quote source text; a newline in it must not start a new workflow command."""
    finding = Finding("m.py", 2, 7, "NG302", "50% of 'a\r\n::warning::injected'")
    assert github([finding]) == ("::error file=m.py,line=2,col=7,title=NG302::"
                                 "50%25 of 'a%0D%0A::warning::injected'\n")


@pytest.fixture(scope="module")
def sarif_validator():
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def _assert_valid(validator, log: dict) -> None:
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
              for error in validator.iter_errors(log)]
    assert not errors, "\n".join(errors)


def test_sarif_is_valid_sarif_2_1_0_and_carries_every_finding(project, sarif_validator):
    done = run(NOGRAD_LINT, "--select", "NG", "--format", "sarif", "fixtures", cwd=project)
    log = json.loads(done.stdout)
    _assert_valid(sarif_validator, log)
    run_ = log["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    found = [{"path": r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
              "line": str(r["locations"][0]["physicalLocation"]["region"]["startLine"]),
              "column": str(r["locations"][0]["physicalLocation"]["region"]["startColumn"]),
              "code": r["ruleId"], "message": r["message"]["text"]} for r in run_["results"]]
    assert found == _text_findings(project)
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run_["results"])


def test_sarif_without_findings_is_valid(tmp_path, sarif_validator):
    (tmp_path / "clean.py").write_text("import torch\n\nwith torch.no_grad():\n"
                                       "    y = torch.ones(2)\n")
    done = run(NOGRAD_LINT, "--format", "sarif", "clean.py", cwd=tmp_path)
    assert done.returncode == 0
    log = json.loads(done.stdout)
    _assert_valid(sarif_validator, log)
    assert log["runs"][0]["results"] == []
