"""The project index and its cache, measured on one directory, side by side in one run.

    python bench/index_speed.py DIRECTORY [--repeat 3] [--jobs N]
    python bench/index_speed.py --generate 5000 --index-only    # a generated project

Each of these is a fresh process (start-up included), round-robin, medians of ``--repeat``:

  cold      nograd-lint on DIRECTORY with an empty cache directory (index, lint, cache writes)
  index     only the project index, empty cache (nograd_lint.project.open_project)
  warm      nograd-lint again, the cache left by a cold run (nothing changed)
  no-cache  nograd-lint --no-cache: the linter as it ran before it had a cache
  no-index  the same with an empty project index: each file linted alone, with no callers
            from other files, as before the index (its parse and screen then in the lint)
  parse     ast.parse of every file that mentions torch, alone: the part of the index the
            screen needs anyway (it screens the trees the index parses, so a run parses each
            file once)

Prints wall-clock seconds, CPU seconds (user + system of the process and its workers: steady
on a loaded machine, where wall time is not), peak memory (the largest resident set of any
process of the run), and the ratios index / cold and warm / cold, by wall and by CPU, the
parse alone against a cold run (the floor of any index that parses every file), what the
index costs beyond that shared parse, (index - parse) / cold, and what it costs a run,
(no-cache - no-index) / no-cache: the share of a cold run its target bounds.
``--generate N`` writes a project of N modules (packages of 50 modules that import each
other, call each other's helpers under ``no_grad`` or not, define models) into a temporary
directory and measures it instead.  ``--index-only`` measures only the index, with an empty
cache and with the cache it leaves (``index``, ``index warm``): the bound on large projects.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs argv, then prints the wall time, CPU time and peak RSS (KiB) of everything it ran.
_MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
if done.returncode not in (0, 1):
    sys.exit(done.stderr.decode()[-2000:])
print(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""

_INDEX_ONLY = """
import gc, sys
from nograd_lint.config import load_config
from nograd_lint.project import open_project
gc.freeze()  # as nograd_lint.cli.main does
gc.set_threshold(10_000, 50, 100)
path, cache, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
project = open_project([path], load_config(path), cache_dir=cache, jobs=jobs)
print(len(project.roots), "modules", file=sys.stderr)
"""

# The command line with an index of nothing: no file has callers elsewhere, the lint parses
# and screens every file itself.
_WITHOUT_INDEX = """
import sys
import nograd_lint.cli as cli
from nograd_lint.project import Project
from nograd_lint.project.callers import CallerIndex
cli.open_project = lambda *args, **kwargs: Project(CallerIndex(()), {})
sys.exit(cli.main(sys.argv[1:]))
"""

_PARSE_ONLY = """
import ast, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.py")):
    source = path.read_bytes()
    if b"torch" in source:
        try:
            ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
"""


def measure(argv: list[str]) -> tuple[float, float, int]:
    done = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0:
        raise SystemExit(f"{argv}: {done.stderr[-2000:]}")
    wall, cpu, rss = done.stdout.split()
    return float(wall), float(cpu), int(rss)


def generate(directory: Path, modules: int) -> None:
    """A project of ``modules`` modules in packages of 50: each imports its neighbour, calls
    one helper of it under ``no_grad`` and one with gradients, and defines a model."""
    (directory / "pyproject.toml").write_text("[project]\nname = 'generated'\n")
    for number in range(modules):
        package = directory / f"pkg{number // 50}"
        package.mkdir(exist_ok=True)
        (package / "__init__.py").touch()
        following = (number + 1) % modules
        neighbour = f"pkg{following // 50}.mod{following}"
        (package / f"mod{number}.py").write_text(textwrap.dedent(f"""\
            import torch
            from torch import nn
            from {neighbour} import evaluate_{following}, helper_{following}


            class Model{number}(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(8, 8)
                    self.scale = nn.Parameter(torch.ones(8))

                def forward(self, x):
                    return self.fc(x) * self.scale


            def evaluate_{number}(model, val_loader):
                total = 0.0
                for x, y in val_loader:
                    total += (model(x) - y).pow(2).mean().item()
                return total


            def helper_{number}(model, x):
                return model(x).sum()


            def run_{number}(model, val_loader, optimizer):
                with torch.no_grad():
                    score = evaluate_{following}(model, val_loader)
                loss = helper_{following}(model, next(iter(val_loader))[0])
                loss.backward()
                optimizer.step()
                return score
            """))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, nargs="?")
    parser.add_argument("--generate", type=int, metavar="N", help="measure a generated project")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--index-only", action="store_true", help="measure only the index")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="nograd-index-bench-"))
    try:
        directory = args.directory
        if args.generate:
            directory = scratch / "project"
            directory.mkdir()
            generate(directory, args.generate)
        elif directory is None:
            parser.error("give a DIRECTORY or --generate N")
        if args.index_only:
            index_only(directory.resolve(), scratch, args.repeat, args.jobs)
        else:
            run(directory.resolve(), scratch, args.repeat, args.jobs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def index_command(directory: Path, cache: Path, jobs: int) -> list[str]:
    return [sys.executable, "-c", _INDEX_ONLY, str(directory), str(cache), str(jobs)]


def report(directory: Path, jobs: int, repeat: int,
           runs: dict[str, list[tuple[float, float, int]]]) -> dict[str, tuple[float, float]]:
    files = sum(1 for _ in directory.rglob("*.py"))
    print(f"{directory}: {files} Python files; --jobs {jobs}; {os.cpu_count()} cores; "
          f"median of {repeat}")
    print(f"{'run':10} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}")
    medians = {}
    for label, samples in runs.items():
        wall, cpu = (statistics.median(s[i] for s in samples) for i in (0, 1))
        peak = max(s[2] for s in samples) / 1024
        medians[label] = wall, cpu
        print(f"{label:10} {wall:8.2f} {cpu:8.2f} {peak:9.1f}")
    return medians


def index_only(directory: Path, scratch: Path, repeat: int, jobs: int) -> None:
    runs: dict[str, list[tuple[float, float, int]]] = {"index": [], "index warm": []}
    for attempt in range(repeat):
        cache = scratch / f"index{attempt}"
        runs["index"].append(measure(index_command(directory, cache, jobs)))
        runs["index warm"].append(measure(index_command(directory, cache, jobs)))
    report(directory, jobs, repeat, runs)


def run(directory: Path, scratch: Path, repeat: int, jobs: int) -> None:
    options = ["--exit-zero", "--format", "json", "--jobs", str(jobs)]
    lint = [sys.executable, "-m", "nograd_lint", *options]
    warm_cache = scratch / "warm"
    measure([*lint, "--cache-dir", str(warm_cache), str(directory)])  # fills the warm cache
    runs: dict[str, list[tuple[float, float, int]]] = {
        "cold": [], "index": [], "warm": [], "no-cache": [], "no-index": [], "parse": []}
    for attempt in range(repeat):  # round-robin: drift in machine load hits all alike
        cold_cache, index_cache = scratch / f"cold{attempt}", scratch / f"index{attempt}"
        runs["cold"].append(measure([*lint, "--cache-dir", str(cold_cache), str(directory)]))
        runs["index"].append(measure(index_command(directory, index_cache, jobs)))
        runs["warm"].append(measure([*lint, "--cache-dir", str(warm_cache), str(directory)]))
        runs["no-cache"].append(measure([*lint, "--no-cache", str(directory)]))
        runs["no-index"].append(measure([sys.executable, "-c", _WITHOUT_INDEX, *options,
                                         "--no-cache", str(directory)]))
        runs["parse"].append(measure([sys.executable, "-c", _PARSE_ONLY, str(directory)]))
    same = subprocess.run([*lint, "--cache-dir", str(warm_cache), str(directory)],
                          capture_output=True, text=True, cwd=ROOT).stdout
    fresh = subprocess.run([*lint, "--no-cache", str(directory)], capture_output=True,
                           text=True, cwd=ROOT).stdout
    medians = report(directory, jobs, repeat, runs)
    for label, target in (("index", ""), ("warm", " (target <= 60%)")):
        wall, cpu = (medians[label][i] / medians["cold"][i] for i in (0, 1))
        print(f"{label} / cold: {wall:.0%} wall, {cpu:.0%} CPU{target}")
    # The parse alone bounds the index process from below: no index that parses every file
    # can cost less of a cold run than this.
    parse_share = medians["parse"][1] / medians["cold"][1]
    print(f"parse alone / cold: {parse_share:.0%} CPU (the floor of any index that parses)")
    beyond = (medians["index"][1] - medians["parse"][1]) / medians["cold"][1]
    print(f"index beyond the parse it shares with the screen / cold: {beyond:.0%} CPU")
    wall, cpu = (1 - medians["no-index"][i] / medians["no-cache"][i] for i in (0, 1))
    print(f"what the index costs a run, (no-cache - no-index) / no-cache: {cpu:.0%} CPU, "
          f"{wall:.0%} wall (target <= 25%)")
    print("warm-cache findings identical to --no-cache:",
          json.loads(same) == json.loads(fresh))


if __name__ == "__main__":
    main()
