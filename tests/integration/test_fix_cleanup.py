"""What ``--fix`` leaves must need no lint pass of its own: no ``x = x``, no import it made
unused, one ``with torch.no_grad():`` block around consecutive fixed statements; and pyflakes
finds nothing in the fixed code that it did not find before."""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from collections import Counter
from pathlib import Path

from tests.fixture_programs import FIXTURES
from tests.integration.tools import NOGRAD_LINT, run

PYFLAKES = (sys.executable, "-m", "pyflakes")


def fixed(tmp_path: Path, source: str, *options: str) -> str:
    target = tmp_path / "module.py"
    target.write_text(textwrap.dedent(source))
    done = run(NOGRAD_LINT, "--fix", *options, "module.py", cwd=tmp_path)
    assert done.returncode in (0, 1) and "error" not in done.stderr, done.stderr
    return target.read_text()


def pyflakes_messages(path: Path, cwd: Path) -> Counter:
    """pyflakes's messages for ``path`` (a file or directory), without their positions."""
    done = run(PYFLAKES, path, cwd=cwd)
    return Counter(re.sub(r"^.*?:\d+:(\d+:)? ", "", line) for line in done.stdout.splitlines())


def test_a_wrapper_fixed_away_leaves_no_self_assignment_and_no_unused_import(tmp_path):
    result = fixed(tmp_path, """\
        import torch
        from torch.autograd import Variable

        def evaluate(model, x):
            x = Variable(x, volatile=True)  # legacy
            with torch.no_grad():
                return model(x)
    """)
    assert result == textwrap.dedent("""\
        import torch

        def evaluate(model, x):
            with torch.no_grad():
                return model(x)
    """)
    assert pyflakes_messages(tmp_path / "module.py", tmp_path) == Counter()


def test_only_the_imports_fixes_made_unused_go(tmp_path):
    result = fixed(tmp_path, """\
        import os
        import torch
        from torch.autograd import (
            grad,
            Variable,
        )
        import torch.autograd as autograd_module
        x = Variable(torch.ones(2))
        y = autograd_module.Variable(torch.ones(2))
        print(grad, x, y)
    """)
    assert result == textwrap.dedent("""\
        import os
        import torch
        from torch.autograd import (
            grad,
        )
        x = torch.ones(2)
        y = torch.ones(2)
        print(grad, x, y)
    """)  # os was unused before: not the fix's business


def test_a_name_still_used_or_re_exported_keeps_its_import(tmp_path):
    source = """\
        import torch
        from torch.autograd import Variable
        __all__ = ["Variable"]
        x = Variable(torch.ones(2))
    """
    assert "from torch.autograd import Variable\n" in fixed(tmp_path, source)
    kept = fixed(tmp_path, """\
        import torch
        from torch.autograd import Variable
        x = Variable(torch.ones(2))
        print(Variable)
    """)
    assert "from torch.autograd import Variable\n" in kept


def test_consecutive_fixed_statements_share_one_no_grad_block(tmp_path):
    result = fixed(tmp_path, """\
        import torch
        w = torch.ones(2, requires_grad=True)
        b = torch.zeros(2, requires_grad=True)

        def step(lr):
            w -= lr * w.grad
            # and the bias
            b -= lr * b.grad
            print(w, b)
    """, "--unsafe-fixes")
    assert result == textwrap.dedent("""\
        import torch
        w = torch.ones(2, requires_grad=True)
        b = torch.zeros(2, requires_grad=True)

        def step(lr):
            with torch.no_grad():
                w -= lr * w.grad
                # and the bias
                b -= lr * b.grad
            print(w, b)
    """)


def test_fixed_fixtures_are_no_worse_under_pyflakes(tmp_path):
    """Every fixture, every rule, unsafe fixes too: whatever pyflakes reports afterwards it
    reported before (the fixtures themselves are not all pyflakes-clean)."""
    before_dir = tmp_path / "before"
    shutil.copytree(FIXTURES, before_dir)
    after_dir = tmp_path / "after"
    shutil.copytree(FIXTURES, after_dir)
    done = run(NOGRAD_LINT, "--select", "NG,NG106,NG205", "--fix", "--unsafe-fixes", "after",
               cwd=tmp_path)
    assert done.returncode in (0, 1) and "error" not in done.stderr, done.stderr
    changed = [path.name for path in sorted(after_dir.glob("*.py"))
               if path.read_text() != (before_dir / path.name).read_text()]
    assert len(changed) > 10, changed
    for name in changed:
        before = pyflakes_messages(before_dir / name, tmp_path)
        after = pyflakes_messages(after_dir / name, tmp_path)
        assert after - before == Counter(), f"{name}: {after - before}"
