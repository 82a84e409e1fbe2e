"""The flake8 plugin, through the real flake8 command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LEGACY = ("import torch\nfrom torch.autograd import Variable\n"
          "x = Variable(torch.ones(2), volatile=True)  # noqa: NG303\n")


def flake8(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flake8", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_plugin_reports_through_flake8_which_owns_noqa(tmp_path):
    (tmp_path / "legacy.py").write_text(LEGACY)
    done = flake8("--select", "NG", "legacy.py", cwd=tmp_path)
    assert done.stdout.splitlines() == [
        "legacy.py:3:5: NG301 'volatile' has had no effect since PyTorch 0.4: remove it and run "
        "inference under 'with torch.no_grad():' or 'torch.inference_mode()'"]


def test_plugin_reads_stdin_and_leaves_syntax_errors_to_flake8(tmp_path):
    done = flake8("--select", "NG,E999", "--stdin-display-name", "shown.py", "-", cwd=tmp_path,
                  stdin="from torch.autograd import Variable\nv = Variable(1, volatile=True\n")
    assert [line.split()[1] for line in done.stdout.splitlines()] == ["E999"]
    assert done.stdout.startswith("shown.py:")
