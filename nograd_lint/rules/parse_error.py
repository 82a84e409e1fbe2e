"""NG001: a file that could not be parsed is reported, and the run goes on."""

from __future__ import annotations

from nograd_lint.rule import Rule


class ParseError(Rule):
    """The file could not be parsed, so none of its code was checked.

    Reported with the parser's line, column and message, for syntax errors, source that cannot
    be decoded, and code nested too deeply to analyse.  Other files are still linted.  Only
    files that could contain a finding are parsed at all (see the pre-filter in the README), so
    a broken file without any trigger text is not reported; your compiler or flake8's E999
    will be.

    Bad::

        def evaluate(model, loader)
            ...

    Good::

        def evaluate(model, loader):
            ...
    """

    code = "NG001"
    name = "parse-error"
    message = "file could not be parsed, so it was not checked"
    triggers = ()  # reported by the engine, never a reason to parse a file
    severity = "error"
