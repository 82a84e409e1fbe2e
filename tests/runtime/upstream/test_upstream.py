"""PyTorch's own tests, run on both backends: ``runtime`` (through ``runtime.torch_alias``) and
``torch``.

Each ``ported_*.py`` file is loaded once per backend: for ``runtime`` its ``import torch`` runs
under the alias, so every ``torch.`` in the test bodies means runtime.  ``shim.py`` (PyTorch's
test helpers) is loaded the same way and stands in for ``torch.testing._internal``.  Tests
``runtime`` does not pass yet are in ``RUNTIME_XFAIL``, strict: one that starts passing fails
until its entry is removed.  torch must pass every test; without torch its half is skipped.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import sys
import unittest
from pathlib import Path

import pytest

from runtime.torch_alias import as_torch
from tests.runtime.upstream.runtime_xfail import RUNTIME_XFAIL

HERE = Path(__file__).parent
PORTED = sorted(HERE.glob("ported_*.py"))


def _test_ids() -> list[str]:
    """``file::Class::test_name`` of every test, read without importing (or needing) torch."""
    ids = []
    for path in PORTED:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                ids += [f"{path.stem}::{node.name}::{item.name}" for item in node.body
                        if isinstance(item, ast.FunctionDef) and item.name.startswith("test_")]
    return ids


_loaded: dict[tuple[str, str], object] = {}


def _load(backend: str, stem: str):
    key = (backend, stem)
    if key not in _loaded:
        switch = as_torch() if backend == "runtime" else contextlib.nullcontext()
        saved = sys.modules.get("upstream_shim")
        with switch:
            try:
                sys.modules["upstream_shim"] = _exec(backend, HERE / "shim.py")
                _loaded[key] = _exec(backend, HERE / f"{stem}.py")
            finally:
                if saved is None:
                    sys.modules.pop("upstream_shim", None)
                else:
                    sys.modules["upstream_shim"] = saved
    return _loaded[key]


def _exec(backend: str, path: Path):
    spec = importlib.util.spec_from_file_location(f"upstream_{backend}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _params():
    for test_id in _test_ids():
        yield pytest.param("torch", test_id, id=f"torch::{test_id}")
        reason = RUNTIME_XFAIL.get(test_id.split("::", 1)[1])
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param("runtime", test_id, id=f"runtime::{test_id}", marks=marks)


@pytest.mark.parametrize(("backend", "test_id"), list(_params()))
def test_upstream(backend: str, test_id: str) -> None:
    if backend == "torch":
        pytest.importorskip("torch")
    stem, class_name, method = test_id.split("::")
    case = getattr(_load(backend, stem), class_name)(method)
    result = unittest.TestResult()
    case.run(result)
    if result.skipped:
        pytest.skip(result.skipped[0][1])
    problems = result.errors + result.failures
    if problems:
        pytest.fail(problems[0][1], pytrace=False)
    if result.unexpectedSuccesses:
        pytest.fail("unexpected success of a test marked expectedFailure upstream", pytrace=False)
