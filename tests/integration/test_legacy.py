"""Python 2 and pre-3.7 files: linted after mechanical repairs, findings placed on the original
lines and columns, one NG001 saying what was repaired, and never fixed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.integration.tools import NOGRAD_LINT, finding_rows, run

# What one public repository looked like: a single `.cuda(async=True)` hid all of it.
OLD_TRAINING_SCRIPT = textwrap.dedent("""\
    import torch
    from torch.autograd import Variable

    def validate(val_loader, model, criterion):
        model.eval()
        for i, (input, target) in enumerate(val_loader):
            target = target.cuda(async=True)
            input_var = Variable(input, volatile=True)
            target_var = Variable(target, volatile=True)
            output = model(input_var)
            loss = criterion(output, target_var)
            print 'Test: [{0}]'.format(i), loss.data[0]
""")


def lint(tmp_path: Path, source: str, *options: str) -> list[dict]:
    (tmp_path / "old.py").write_text(source)
    done = run(NOGRAD_LINT, *options, "old.py", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    return finding_rows(done.stdout)


def test_a_python_2_script_is_linted_after_repairs(tmp_path):
    rows = lint(tmp_path, OLD_TRAINING_SCRIPT)
    lines = OLD_TRAINING_SCRIPT.splitlines()
    place = lambda line, text: (str(line), str(lines[line - 1].index(text) + 1))
    found = {(row["line"], row["column"], row["code"]) for row in rows}
    assert {(*place(8, "Variable"), "NG301"), (*place(8, "Variable"), "NG303"),
            (*place(9, "Variable"), "NG301"), (*place(9, "Variable"), "NG303"),
            (*place(10, "model("), "NG101")} <= found
    (notice,) = [row for row in rows if row["code"] == "NG001"]
    assert notice["line"] == "7"  # where Python 3 stopped
    assert "checked after repairing a scratch copy" in notice["message"]
    assert "'async=' arguments (line 7)" in notice["message"]
    assert "print statements (line 12)" in notice["message"]
    assert "--fix leaves this file unchanged" in notice["message"]


def test_a_repaired_file_is_never_fixed(tmp_path):
    (tmp_path / "old.py").write_text(OLD_TRAINING_SCRIPT)
    fixing = run(NOGRAD_LINT, "--fix", "--unsafe-fixes", "old.py", cwd=tmp_path)
    assert fixing.returncode == 1 and (tmp_path / "old.py").read_text() == OLD_TRAINING_SCRIPT
    assert "--fix leaves this file unchanged" in fixing.stdout
    assert run(NOGRAD_LINT, "--diff", "old.py", cwd=tmp_path).stdout == ""
    on_stdin = run(NOGRAD_LINT, "--fix", "-", cwd=tmp_path, stdin=OLD_TRAINING_SCRIPT)
    assert on_stdin.stdout == OLD_TRAINING_SCRIPT


# Each legacy construct with a finding after it on the same line (or the next): the finding's
# column is the original one, however the repair changed the line's length.
CONSTRUCTS = {
    "print statements": "print 'x', Variable(x, volatile=True)\n",
    "print statements ": "print >>log, 'a'; print 'b', Variable(x, volatile=True)\n",
    "exec statements": "exec 'pass'; y = Variable(x, volatile=True)\n",
    "'except E, e'": "try:\n    pass\nexcept ValueError, e: y = Variable(x, volatile=True)\n",
    "'raise E, value'": "if x: raise ValueError, 'bad'\ny = Variable(x, volatile=True)\n",
    "backticks": "y = `x`, Variable(x, volatile=True)\n",
    "'<>'": "y = x <> 1 or Variable(x, volatile=True)\n",
    "old octal literals": "y = 0777 or Variable(x, volatile=True)\n",
    "long literals": "y = 10L or Variable(x, volatile=True)\n",
    "'ur' string prefixes": "y = ur'\\d' or Variable(x, volatile=True)\n",
    "'async=' arguments": "y = x.cuda(async=True) or Variable(x, volatile=True)\n",
    "'async' names": "async = 1; y = Variable(x, volatile=True)\n",
    "tabs in indentation": "if x:\n        pass\n\ty = Variable(x, volatile=True)\n",
}


@pytest.mark.parametrize("kind", CONSTRUCTS)
def test_each_repair_keeps_findings_in_place(tmp_path, kind):
    source = "import torch\nfrom torch.autograd import Variable\nx = torch.ones(2)\n" + CONSTRUCTS[kind]
    rows = lint(tmp_path, source, "--select", "NG001,NG301")
    number, line = next((n, l) for n, l in enumerate(source.splitlines(), 1) if "volatile" in l)
    assert [(row["line"], row["column"], row["code"]) for row in rows if row["code"] == "NG301"] == [
        (str(number), str(line.index("Variable") + 1), "NG301")]
    (notice,) = [row["message"] for row in rows if row["code"] == "NG001"]
    assert f"{kind.strip()} (line" in notice


def test_code_no_repair_can_save_is_still_a_parse_error(tmp_path):
    rows = lint(tmp_path, "import torch\nprint 'x'\nx = Variable(1, volatile=True\n")
    assert [row["code"] for row in rows] == ["NG001"]
    assert "legacy" not in rows[0]["message"] and "could not be parsed" in rows[0]["message"]
