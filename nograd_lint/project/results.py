"""Cached lint results: a file's findings, keyed by everything they depend on.

The key holds the file's path (per-file ignores, test files), its content, the configuration,
nograd-lint's version (in the cache's directory), and what the project index says about the
file's callers, so that editing a caller in another file re-lints this one.  A stored finding
keeps whether it has a fix and how safe it is (the JSON and SARIF formats print that); the fix
itself is libcst nodes, so ``--fix`` never reads results from the cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from nograd_lint.config import Config
from nograd_lint.project.cache import Cache, digest
from nograd_lint.rule import Finding, Fix, FixSafety
from nograd_lint.vocabulary import Grad, bound_parameters


def result_key(path: str, source: bytes, config: Config, callers: Mapping[str, Grad]) -> str:
    parameters = bound_parameters(callers)
    return digest((path, source, repr(replace(config, cache_dir=None)),
                   repr(sorted((name, grad.value) for name, grad in callers.items())),
                   repr(sorted((name, sorted((p, sorted(k)) for p, k in bound.items()))
                               for name, bound in parameters.items()))))


def load_findings(cache: Cache, key: str, path: str) -> list[Finding] | None:
    rows = cache.load("results", key)
    if type(rows) is not tuple:
        return None
    try:
        return [Finding(path, line, column, code, message,
                        # Only the fix's safety is kept: formats print whether there is one.
                        None if safety is None else Fix(None, None, FixSafety(safety)))
                for line, column, code, message, safety in rows]
    except (TypeError, ValueError):
        return None


def store_findings(cache: Cache, key: str, findings: list[Finding]) -> None:
    cache.store("results", key, tuple(
        (f.line, f.column, f.code, f.message, f.fix.safety.value if f.fix else None)
        for f in findings))
