"""Configuration: ``[tool.nograd-lint]`` in the nearest pyproject.toml (or the TOML file given
with ``--config``), then command-line options.

Rule selection works like flake8's and ruff's: codes or prefixes (``NG3`` = NG301-NG303, ``NG``
= every rule on by default).  ``select`` replaces the default set, ``extend-select`` adds to it,
``ignore`` removes from it; ``per-file-ignores`` maps path globs to codes ignored in matching
files.  An opt-in rule is selected only by its full code, as ruff treats preview rules: a
prefix never turns on advice nobody asked for.
"""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from nograd_lint.frameworks import configured_hooks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", ".eggs", "__pycache__",
    "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".nograd-lint-cache",
)


class ConfigError(ValueError):
    """A configuration value that cannot be used; reported as a usage error (exit 2)."""


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] | None = None  # None: every rule enabled by default
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    torch_modules: tuple[str, ...] = ("runtime",)
    eval_function_patterns: tuple[str, ...] = ()
    #: ``module.Class.method``: methods a project's own framework runs without gradients in
    #: subclasses of ``Class`` (frameworks.py knows Lightning, Keras, skorch, fastai...).
    no_grad_hooks: tuple[str, ...] = ()
    root: str = "."  # per-file-ignores and exclude globs are relative to it
    prefilter: bool = True  # False: parse every file and run every rule (--no-prefilter)
    #: Files larger than this many bytes that a rule would analyse get an NG001 notice instead
    #: (0: no limit); the analysis of a multi-megabyte generated file takes minutes and gigabytes.
    max_file_size: int = 1_000_000
    force_exclude: bool = False  # exclude applies to files named on the command line too
    cache_dir: str | None = None  # the project index's cache (default: in the project root)

    def enabled_codes(self, all_rules: dict[str, type], path: str | None = None) -> frozenset[str]:
        """The codes to check in ``path`` (or in general when ``path`` is None)."""
        if self.select is None:
            chosen = {code for code, rule in all_rules.items() if rule.default_enabled}
        else:
            chosen = _selected(all_rules, self.select)
        chosen |= _selected(all_rules, self.extend_select)
        ignored = tuple(self.ignore) + (self._file_ignores(path) if path else ())
        return frozenset(code for code in chosen if not code.startswith(ignored))

    def _file_ignores(self, path: str) -> tuple[str, ...]:
        relative = _relative(path, self.root)
        codes: list[str] = []
        for pattern, ignored in self.per_file_ignores:
            if _glob_match(relative, pattern):
                codes.extend(ignored)
        return tuple(codes)

    def is_excluded(self, path: str) -> bool:
        relative = _relative(path, self.root)
        name = os.path.basename(path.rstrip(os.sep))
        return any(_glob_match(relative, p) or fnmatch.fnmatch(name, p) for p in self.exclude)

    def merged(self, **overrides) -> Config:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _selected(all_rules: dict[str, type], selection: tuple[str, ...]) -> set[str]:
    """The codes ``selection`` names: opt-in rules only by their full code."""
    return {code for code, rule in all_rules.items()
            if code in selection or rule.default_enabled and code.startswith(tuple(selection))}


def _relative(path: str, root: str) -> str:
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _glob_match(relative: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern + "/*")


def find_pyproject(start: str) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` that has a [tool.nograd-lint] table."""
    here = Path(os.path.abspath(start))
    if here.is_file() or not here.exists():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                with candidate.open("rb") as handle:
                    data = tomllib.load(handle)
            except (OSError, tomllib.TOMLDecodeError) as error:
                raise ConfigError(f"{candidate}: {error}") from error
            if "nograd-lint" in data.get("tool", {}):
                return candidate
    return None


_KEYS = {
    "select": "select", "extend-select": "extend_select", "ignore": "ignore",
    "exclude": "exclude", "torch-modules": "torch_modules",
    "eval-function-patterns": "eval_function_patterns", "per-file-ignores": "per_file_ignores",
    "max-file-size": "max_file_size",
    "cache-dir": "cache_dir",
    "no-grad-hooks": "no_grad_hooks",
}


def load_config(start: str) -> Config:
    """Read the configuration that applies to ``start`` (a path being linted, or the cwd)."""
    pyproject = find_pyproject(start)
    if pyproject is None:
        return Config()
    return load_config_file(pyproject)


def load_config_file(path: str | os.PathLike) -> Config:
    """Read ``[tool.nograd-lint]`` from the TOML file ``path``, whatever its name (``--config``);
    its globs are relative to the file's directory."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a configuration file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    table = data.get("tool", {}).get("nograd-lint") if isinstance(data.get("tool"), dict) else None
    if table is None:
        raise ConfigError(f"{path}: no [tool.nograd-lint] table")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.nograd-lint] must be a table")
    values: dict[str, object] = {"root": str(path.parent)}
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigError(f"{path}: unknown key '{key}' in [tool.nograd-lint] "
                              f"(known: {', '.join(sorted(_KEYS))})")
        if key == "per-file-ignores":
            if not isinstance(value, dict) or not all(_is_str_list(v) for v in value.values()):
                raise ConfigError(f"{path}: per-file-ignores must map globs to lists of codes")
            values["per_file_ignores"] = tuple((g, tuple(c)) for g, c in value.items())
        elif key == "max-file-size":
            try:
                values["max_file_size"] = parse_size(value)
            except ConfigError as error:
                raise ConfigError(f"{path}: max-file-size: {error}") from None
        elif key == "cache-dir":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: 'cache-dir' must be a path")
            values["cache_dir"] = str(path.parent / value)
        elif _is_str_list(value):
            values[_KEYS[key]] = tuple(value)
        else:
            raise ConfigError(f"{path}: '{key}' must be a list of strings")
    try:
        check_patterns(values.get("eval_function_patterns", ()))
    except ConfigError as error:
        raise ConfigError(f"{path}: eval-function-patterns: {error}") from None
    try:
        configured_hooks(values.get("no_grad_hooks", ()))
    except ValueError as error:
        raise ConfigError(f"{path}: no-grad-hooks: {error}") from None
    return Config(**values)


_SIZE = re.compile(r"(\d+)\s*([kmg]?)b?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_size(value: object) -> int:
    """A size in bytes: an integer, or a string such as ``"500k"``, ``"2MB"`` (0: no limit)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{value!r} is not a size (bytes, or a number with k, M or G)")
    return int(match[1]) * _UNITS[match[2].lower()]


def check_patterns(patterns) -> tuple[str, ...]:
    """The eval-function patterns, each checked to be a regular expression: a bad one would
    otherwise only fail once a file defines a function, deep inside the run."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ConfigError(f"invalid regular expression {pattern!r}: {error}") from None
    return tuple(patterns)


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def split_codes(text: str | None) -> tuple[str, ...] | None:
    """``"NG301, NG302"`` -> ``("NG301", "NG302")``; None stays None (option not given)."""
    if text is None:
        return None
    return tuple(part.strip().upper() for part in text.replace(" ", ",").split(",") if part.strip())
