"""Finding positions computed statement by statement agree with libcst's PositionProvider."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from nograd_lint.positions import locate, statement_anchors

TRICKY = textwrap.dedent('''\
    # -*- coding: utf-8 -*-
    """Docstring with ünïcödé."""
    import torch; from torch.autograd import Variable as V


    @torch.no_grad()
    @decorate(
        V(1, volatile=True),
    )
    async def predict(model, x: "T" = V(2)) -> V(3):
        """ünïcödé"""
        a = 1; b = V(x, volatile=True)
        if a:
            pass
        elif b(V(4)):
            c = [V(i) for i in range(3) if V(i)]
        else:
            d = {V(5): V(6), **e}
        try:
            f = lambda: V(7)
        except (ValueError, V) as error:
            g = V(8) if a else V(9)
        finally:
            h = V(
                10,
                volatile=True,
            )
        with torch.no_grad(), V(11) as v:
            async for item in V(12):
                await V(13)
        while V(14): break
        for k in V(15): x = V(16)
        return f"{V(17)!r:>{V(18)}}"


    class Model(V(19), metaclass=V(20)):
        field: int = V(21)

        def method(self):  x.volatile = V(22)
''')


def every_node(module: cst.Module) -> list[cst.CSTNode]:
    found, stack = [], [module]
    from nograd_lint.tree import children
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(children(node))
    return found


@pytest.mark.parametrize("text", [TRICKY, *(p.read_text() for p in sorted(
    (Path(__file__).parent.parent.parent / "fixtures").glob("*.py")))])
def test_positions_match_libcst(text):
    module = cst.parse_module(text)
    nodes = every_node(module)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    found = locate(module, text, statement_anchors(ast.parse(text)), nodes)
    mismatched = [(type(n).__name__, found[n], (expected[n].start.line, expected[n].start.column))
                  for n in nodes
                  if found[n] != (expected[n].start.line, expected[n].start.column)
                  and not isinstance(n, cst.Module)]
    assert not mismatched
