"""NG001: a file that could not be parsed is reported, and the run goes on."""

from __future__ import annotations

from nograd_lint.rule import Invalid, Rule


class ParseError(Rule):
    """## What it does
    Reports a file that could not be parsed, so none of its code was checked.

    ## Why is this bad?
    Nothing in the file was linted.  The finding carries the parser's line, column and message,
    for syntax errors, source that cannot be decoded, and code nested too deeply to analyse.
    Other files are still linted.

    ## Known problems
    Only files that could contain a finding are parsed at all (see the pre-filter in the README),
    so a broken file without any trigger text is not reported; your compiler or flake8's E999
    will be.

    ## Fix safety
    No automatic fix.
    """

    INVALID = (
        Invalid("""
            import torch

            def evaluate(model, loader)  # expect: NG001
                return [model(x) for x in loader]
            """),
    )

    code = "NG001"
    name = "parse-error"
    message = "file could not be parsed, so it was not checked"
    triggers = ()  # reported by the engine, never a reason to parse a file
    severity = "error"
