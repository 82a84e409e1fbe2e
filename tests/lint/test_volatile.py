"""NG301-NG303 through the engine's public API: what is flagged, what is not, and the fixes."""

from __future__ import annotations

import textwrap

import pytest

from nograd_lint.config import Config
from nograd_lint.engine import lint_source
from nograd_lint.fix import fix_source


def findings(source: str) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in lint_source(textwrap.dedent(source), "t.py", Config())]


def fixed(source: str) -> str:
    return fix_source(textwrap.dedent(source), "t.py", Config()).source


@pytest.mark.parametrize("source", [
    # a dict key and a parameter of an ordinary function
    """
    import torch
    def cache(volatile=False):
        return {"volatile": volatile}
    cache(volatile=True)
    """,
    # another library's Variable, and this module's own Variable class
    """
    import torch
    from tensorflow import Variable
    v = Variable(1.0, volatile=True)
    """,
    """
    import torch
    class Variable:
        def __init__(self, x, volatile=False):
            self.volatile = volatile
    v = Variable(1, volatile=True)
    print(v.volatile)
    """,
    # no torch import at all: `.volatile` is somebody else's attribute
    """
    class Flags: pass
    f = Flags()
    f.volatile = True
    """,
    # argparse results
    """
    import argparse, torch
    args = argparse.ArgumentParser().parse_args()
    print(args.volatile)
    """,
    # a dataclass field named volatile
    """
    import torch
    from dataclasses import dataclass
    @dataclass
    class Options:
        volatile: bool = False
    o = Options()
    print(o.volatile)
    """,
])
def test_unrelated_volatile_is_not_flagged(source):
    assert findings(source) == []


def test_function_local_import_and_keyword_on_a_later_line():
    source = """
    def evaluate(x):
        from torch.autograd import Variable
        return Variable(
            x,
            volatile=True,
        )
    """
    assert findings(source) == [(4, "NG301"), (4, "NG303")]


def test_wrapper_forwarding_positionally_and_through_methods():
    source = """
    from torch.autograd import Variable
    class Runner:
        def to_var(self, x, volatile=False):
            return Variable(x, volatile=volatile)
        def run(self, x):
            return self.to_var(x, True)
    """
    assert findings(source) == [(5, "NG301"), (5, "NG303"), (7, "NG301")]


def test_wrapper_call_fix_only_when_the_parameter_is_only_forwarded():
    source = """
    from torch.autograd import Variable
    def to_var(x, volatile=False):
        if volatile:
            print("evaluating")
        return Variable(x, volatile=volatile)
    y = to_var(1, volatile=True)
    """
    assert "to_var(1, volatile=True)" in fixed(source)


def test_fixes_preserve_comments_and_are_idempotent():
    source = """
    import torch
    from torch.autograd import Variable  # legacy
    x = Variable(torch.ones(2), volatile=True)  # inputs
    w = Variable(torch.zeros(2), requires_grad=True)
    s = Variable(x + w) * 2
    x.volatile = True
    if True:
        x.volatile = False
    """
    once = fixed(source)
    assert once == textwrap.dedent("""
    import torch
    x = torch.ones(2)  # inputs
    w = torch.zeros(2).detach().requires_grad_()
    s = (x + w) * 2
    if True:
        pass
    """)
    assert fixed(once) == once


def test_noqa_like_flake8():
    source = """
    from torch.autograd import Variable
    a = Variable(1, volatile=True)  # noqa
    b = Variable(1, volatile=True)  # noqa: NG301
    c = Variable(1, volatile=True)  # noqa:NG3
    d = Variable(  # a long call
        1,
        volatile=True,
    )  # noqa: NG301, NG303
    e = Variable(1)  # noqa: E501
    """
    assert findings(source) == [(4, "NG303"), (10, "NG303")]


def test_parse_error_is_one_finding_with_the_parser_position():
    result = lint_source("import torch\nx = Variable(\n", "broken.py", Config())
    assert [(f.code, f.path) for f in result] == [("NG001", "broken.py")]
    assert result[0].line >= 2


@pytest.mark.parametrize("nested, codes", [
    ("-" * 500 + "1", ["NG303"]),  # deep, but within reach: analysed
    ("(" * 500 + "1" + ")" * 500, ["NG001"]),  # deeper than Python allows: reported
    ("(" * 5000 + "1" + ")" * 5000, ["NG001"]),  # would crash libcst's native parser
    ("+".join(["1"] * 50000), ["NG001"]),  # likewise
])
def test_deep_nesting_never_raises(nested, codes):
    source = f"from torch.autograd import Variable\nv = Variable({nested})\n"
    assert [f.code for f in lint_source(source, "deep.py", Config())] == codes


def test_pre_filter_skips_files_without_trigger_text():
    # Not even parsed: a syntax error without trigger text costs nothing and reports nothing.
    assert lint_source("def broken(:\n", "x.py", Config()) == []


def test_torch_alias_modules_are_configurable():
    source = "import mytorch\nv = mytorch.autograd.Variable(1, volatile=True)\n"
    assert lint_source(source, "t.py", Config()) == []
    config = Config(torch_modules=("mytorch",))
    assert [f.code for f in lint_source(source, "t.py", config)] == ["NG301", "NG303"]
