"""bench/realworld/mutants.py: the guard-removal mutations on small sources, and the script
end to end on a repository made here."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "realworld" / "mutants.py"


def _load_mutants():
    spec = importlib.util.spec_from_file_location("realworld_mutants", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


mutants = _load_mutants()


def source(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# ------------------------------------------------------------------------------ unwrap-with


def test_unwrap_with_dedents_the_body_into_the_enclosing_block():
    original = source("""
        def sgd(params, lr):
            with torch.no_grad():  # no graph for the update
                for p in params:
                    p -= lr * p.grad

                    p.grad.zero_()
            return params
        """)
    mutated = mutants.unwrap_with(original, 2)
    assert mutated.source == source("""
        def sgd(params, lr):
            for p in params:
                p -= lr * p.grad

                p.grad.zero_()
            return params
        """)
    assert mutated.removed == {2}
    assert [mutated.line(n) for n in (1, 3, 4, 7)] == [1, 2, 3, 6]
    assert [mutated.original_line(n) for n in (1, 2, 3, 6)] == [1, 3, 4, 7]


def test_unwrap_with_nested_in_blocks_keeps_the_outer_blocks():
    original = source("""
        class EMA:
            def update(self, model):
                for ema_p, p in zip(self.params, model.parameters()):
                    if p.requires_grad:
                        with torch.no_grad():
                            ema_p.mul_(self.decay)
                            ema_p.add_(p, alpha=1 - self.decay)
                    else:
                        ema_p.copy_(p)
        """)
    mutated = mutants.unwrap_with(original, 5)
    assert mutated.source == source("""
        class EMA:
            def update(self, model):
                for ema_p, p in zip(self.params, model.parameters()):
                    if p.requires_grad:
                        ema_p.mul_(self.decay)
                        ema_p.add_(p, alpha=1 - self.decay)
                    else:
                        ema_p.copy_(p)
        """)
    assert mutated.line(6) == 5 and mutated.line(9) == 8


def test_unwrap_with_a_one_line_body_puts_the_body_in_the_header_place():
    original = "for p in ps:\n    with torch.no_grad(): p.add_(1); p.mul_(2)\nprint(ps)\n"
    mutated = mutants.unwrap_with(original, 2)
    assert mutated.source == "for p in ps:\n    p.add_(1); p.mul_(2)\nprint(ps)\n"
    assert mutated.removed == set()


def test_unwrap_with_a_header_over_several_lines():
    original = source("""
        with (
            torch.inference_mode()
        ):
            w.zero_()
        """)
    mutated = mutants.unwrap_with(original, 1)
    assert mutated.source == "w.zero_()\n"
    assert mutated.line(4) == 1


def test_unwrap_with_leaves_multiline_strings_and_continuations_alone():
    original = source('''
        if True:
            with torch.no_grad():
                doc = """first
                    indented text
        flush left"""
                w.copy_(torch.cat([a,
          b]))
        ''')
    mutated = mutants.unwrap_with(original, 2)
    assert mutated.source == source('''
        if True:
            doc = """first
                    indented text
        flush left"""
            w.copy_(torch.cat([a,
          b]))
        ''')


@pytest.mark.parametrize("code, line, complaint", [
    ("with open(f) as h:\n    h.read()\n", 1, "not a 'with torch.no_grad():'"),
    ("with torch.inference_mode(False):\n    pass\n", 1, "not a 'with torch.no_grad():'"),
    ("with torch.no_grad(), lock:\n    w.zero_()\n", 1, "only a lone"),
    ("x = 1\n", 1, "no 'with' statement starts here"),
    ("with torch.no_grad(:\n", 1, "does not parse"),
])
def test_unwrap_with_refuses_what_is_not_a_lone_guard(code, line, complaint):
    with pytest.raises(mutants.MutationError, match=re.escape(complaint)):
        mutants.unwrap_with(code, line)


# --------------------------------------------------------------------------- drop-decorator


@pytest.mark.parametrize("decorator", ["@torch.no_grad()", "@no_grad()", "@torch.no_grad",
                                       "@torch.inference_mode()", "@torch.inference_mode(True)"])
def test_drop_decorator_removes_only_the_guard(decorator):
    original = (f"class Opt:\n    @staticmethod\n    {decorator}\n"
                "    def step(p):\n        p.add_(1)\n")
    mutated = mutants.drop_decorator(original, 3)
    assert mutated.source == "class Opt:\n    @staticmethod\n    def step(p):\n        p.add_(1)\n"
    assert mutated.line(5) == 4


def test_drop_decorator_over_several_lines():
    original = "@torch.inference_mode(\n    True,\n)\ndef f(w):\n    w.zero_()\n"
    mutated = mutants.drop_decorator(original, 1)
    assert mutated.source == "def f(w):\n    w.zero_()\n"
    assert mutated.removed == {1, 2, 3}


@pytest.mark.parametrize("code, complaint", [
    ("@property\ndef f(self):\n    pass\n", "not a @torch.no_grad"),
    ("def f():\n    pass\n", "no decorator starts here"),
])
def test_drop_decorator_refuses_other_lines(code, complaint):
    with pytest.raises(mutants.MutationError, match=re.escape(complaint)):
        mutants.drop_decorator(code, 1)


# ----------------------------------------------------------------------------------- rebind


def test_rebind_turns_an_augmented_assignment_into_a_rebinding():
    original = "with torch.no_grad():\n    for p in ps:\n        p -= lr * p.grad  # step\n"
    mutated = mutants.rebind(original, 3)
    assert mutated.source == ("with torch.no_grad():\n    for p in ps:\n"
                              "        p = p - (lr * p.grad)  # step\n")


def test_rebind_refuses_attribute_targets():
    with pytest.raises(mutants.MutationError, match="no 'name op= value'"):
        mutants.rebind("self.w -= g\n", 1)


# ------------------------------------------------------------------------- the whole script


MODULE = source("""
    import torch

    def sgd(model, lr):
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad

    def ema(ema_params, params, decay):
        with torch.no_grad():
            for e, p in zip(ema_params, params):
                e.mul_(decay)
    """)


def _mirror(tmp_path: Path) -> tuple[Path, str]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "pkg").mkdir()
    (work / "pkg" / "train.py").write_text(MODULE)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "m"], check=True)
    mirrors = tmp_path / "mirrors"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirrors / "me+demo" / "repo")],
                   check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    return mirrors, commit


def run_script(tmp_path: Path, rows: list[str]) -> subprocess.CompletedProcess:
    mirrors, commit = _mirror(tmp_path)
    table = tmp_path / "mutants.csv"
    table.write_text("repo,commit,path,line,mutation,expected,note\n"
                     + "".join(f"me/demo,{commit},{row}\n" for row in rows))
    return subprocess.run([sys.executable, str(SCRIPT), "--mutants", str(table), "--mirrors",
                           str(mirrors), "--cache", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=tmp_path)


def test_script_counts_found_and_missed_by_rule_and_shape(tmp_path):
    done = run_script(tmp_path, [
        "pkg/train.py,4,unwrap-with,6:NG201:parameters-loop,manual SGD",
        "pkg/train.py,6,rebind,6:NG203:parameters-loop,rebound loop variable",
        "pkg/train.py,9,unwrap-with,11:NG201:caller-provided,EMA over arguments",
    ])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("3 mutants in 1 repositories; ")
    assert ["NG203", "1", "0", "100%"] in [line.split() for line in lines]
    found, missed = next(line.split()[1:3] for line in lines if line.startswith("NG201"))
    assert int(found) >= 1 and int(found) + int(missed) == 2  # manual SGD is found today
    if int(missed):
        assert "caller-provided: 1 of 1 findings missed, in 1 mutants" in done.stdout
        assert "me/demo pkg/train.py:11 NG201 (unwrap-with 9): EMA over arguments" in done.stdout


def test_script_reports_a_misplaced_guard_without_a_traceback(tmp_path):
    done = run_script(tmp_path, ["pkg/train.py,5,unwrap-with,6:NG201:parameters-loop,wrong line"])
    assert done.returncode == 1
    assert "me/demo pkg/train.py: line 5: no 'with' statement starts here" in done.stderr
    assert "Traceback" not in done.stderr


def test_script_rejects_an_unknown_shape(tmp_path):
    done = run_script(tmp_path, ["pkg/train.py,4,unwrap-with,6:NG201:somehow,bad shape"])
    assert done.returncode == 1
    assert "SHAPE in" in done.stderr and "Traceback" not in done.stderr
