"""``tree.parse_module``: libcst's parse without per-node validation, and nothing else changed."""

from __future__ import annotations

import pathlib

import libcst as cst
import pytest

from nograd_lint.tree import parse_module

FIXTURES = sorted((pathlib.Path(__file__).parents[2] / "fixtures").rglob("*.py"))


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_the_tree_is_the_one_libcst_builds(path):
    source = path.read_bytes()
    fast, checked = parse_module(source), cst.parse_module(source)
    assert fast.deep_equals(checked)
    assert fast.code == checked.code


def test_validation_is_back_on_after_a_parse_and_after_a_failed_one():
    parse_module("x = 1\n")
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def (:\n")
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
