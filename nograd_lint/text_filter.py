"""The text filter, the pipeline's first and cheapest stage: a rule can only fire where one of
its trigger strings occurs (and every rule needs torch, or a module configured to stand for
it), so files without any are never parsed."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import NamedTuple

from nograd_lint.config import Config
from nograd_lint.rule import Rule
from nograd_lint.rules import RULES
from nograd_lint.vocabulary import LEAF_EVIDENCE, Grad, bound_parameters


# Python allows blanks, line continuations and (inside brackets) comments after a '.' and
# before a '(': ``x. data``, ``eval (``.
_GAP = r"(?:[\s\\]|#[^\n]*\n)*"


class _Trigger(NamedTuple):
    """A trigger string such as ``.data`` or ``eval(``, found however it is spaced."""

    literal: str | bytes  # as written: the common case, and a fast substring test
    word: str | bytes  # the identifier in it: without it, no spacing can match
    spaced: re.Pattern | None  # with the blanks Python allows around the punctuation

    @classmethod
    def of(cls, text: str, as_bytes: bool) -> _Trigger:
        word = text.strip(".(")
        spaced = None
        if word != text:
            spaced = (r"\." + _GAP if text.startswith(".") else "") + re.escape(word) + (
                _GAP + r"\(" if text.endswith("(") else "")
        encode = str.encode if as_bytes else str
        return cls(encode(text), encode(word),
                   re.compile(encode(spaced)) if spaced is not None else None)

    def found_in(self, source: str | bytes) -> bool:
        return self.literal in source or self.spaced is not None and self.word in source \
            and self.spaced.search(source) is not None


@functools.lru_cache(maxsize=64)
def _triggers(codes: frozenset[str], config: Config, as_bytes: bool):
    """Per rule its triggers, and the text every rule needs: torch, or a module configured to
    stand for it (a file that never mentions torch cannot misuse it)."""
    encode = str.encode if as_bytes else str
    markers = tuple(encode(m) for m in ("torch", *config.torch_modules) if m)
    rules = [(RULES[code], tuple(_Trigger.of(t, as_bytes) for t in RULES[code].trigger_strings(config)))
             for code in sorted(codes)]
    return markers, rules


def triggered_rules(source: str | bytes, codes: frozenset[str], config: Config,
                    callers: Mapping[str, Grad] = {}) -> list[type[Rule]]:
    """The enabled rules whose trigger strings occur in ``source``: the sound pre-filter.
    Leaves that callers in other files pass in (``Callers.parameters``) are leaf evidence
    the text need not show, nor torch."""
    if bound_parameters(callers):
        return trigger_bounds(source, codes, config)[0]
    if config.prefilter and not _mentions_torch(source, codes, config):
        return []  # the common case for a file without torch: no trigger searched
    return trigger_bounds(source, codes, config)[1]


def trigger_bounds(source: str | bytes, codes: frozenset[str], config: Config
                   ) -> tuple[list[type[Rule]], list[type[Rule]]]:
    """``triggered_rules`` under callers that pass leaves (the most rules) and under callers
    that pass none (the fewest), from one search of the text."""
    if not config.prefilter:
        every = [RULES[code] for code in sorted(codes)]
        return every, every
    _, rules = _triggers(codes, config, isinstance(source, bytes))
    found = [rule for rule, triggers in rules if any(t.found_in(source) for t in triggers)]
    passed = [rule for rule, _ in rules if rule in found or rule.triggers == LEAF_EVIDENCE]
    return passed, found if _mentions_torch(source, codes, config) else []


def _mentions_torch(source: str | bytes, codes: frozenset[str], config: Config) -> bool:
    markers, _ = _triggers(codes, config, isinstance(source, bytes))
    return any(marker in source for marker in markers)
