"""Output formats: text (as flake8 prints), JSON, SARIF 2.1.0 and GitHub annotations.

JSON is a list of objects with the stable fields ``path, line, column, code, message,
fixable, fix_safety`` (``fix_safety`` is ``"safe"``, ``"unsafe"`` or null).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from nograd_lint import __version__
from nograd_lint.rule import Finding
from nograd_lint.rules import RULES


def text(findings: Sequence[Finding]) -> str:
    return "".join(f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}\n" for f in findings)


def as_json(findings: Sequence[Finding]) -> str:
    rows = [{
        "path": f.path, "line": f.line, "column": f.column, "code": f.code, "message": f.message,
        "fixable": f.fix is not None, "fix_safety": f.fix.safety.value if f.fix else None,
    } for f in findings]
    return json.dumps(rows, indent=2) + "\n"


_SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def _level(code: str) -> str:
    return _SARIF_LEVELS[RULES[code].severity]


def sarif(findings: Sequence[Finding]) -> str:
    codes = sorted(RULES)
    rules = [{
        "id": code,
        "name": RULES[code].name,
        "shortDescription": {"text": RULES[code].message},
        "fullDescription": {"text": RULES[code].summary()},
        "help": {"text": RULES[code].explain()},
        "defaultConfiguration": {"level": _level(code)},
    } for code in codes]
    results = [{
        "ruleId": f.code,
        "ruleIndex": codes.index(f.code),
        "level": _level(f.code),
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": f.path.replace("\\", "/")},
            "region": {"startLine": f.line, "startColumn": f.column},
        }}],
    } for f in findings]
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "nograd-lint",
                "version": __version__,
                "informationUri": "https://pypi.org/project/nograd-lint/",
                "rules": rules,
            }},
            "results": results,
        }],
    }
    return json.dumps(log, indent=2) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(findings: Sequence[Finding]) -> str:
    """GitHub Actions workflow commands: each finding becomes an annotation on the PR diff.

    Every annotation is an ``error``: any finding fails the run (exit 1), and a yellow warning
    on a red job would understate that.  The code is the annotation's title, so the message
    does not repeat it.
    """
    return "".join(
        f"::error file={_escape_property(f.path)},line={f.line},col={f.column},"
        f"title={_escape_property(f.code)}::{_escape_data(f.message)}\n"
        for f in findings
    )


def statistics(findings: Sequence[Finding]) -> str:
    counts = Counter(f.code for f in findings)
    return "".join(f"{counts[code]:<5} {code} {RULES[code].message}\n" for code in sorted(counts))


FORMATS = {"text": text, "json": as_json, "sarif": sarif, "github": github}
