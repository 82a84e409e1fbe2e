"""Score the linter on labelled real code: per rule precision and recall.

    python bench/realworld/score.py [--labels bench/realworld/ng1_labels.csv] \\
        [--mirrors /work/.mirror] [--cache /tmp/nograd-realworld] [--select NG1]

Without ``--labels`` every ``*_labels.csv`` beside this file is scored, each on its own.

The linter runs on an export of the Python files of every repository and commit that the
labels name or that the corpus file beside them lists (``ng1_labels.csv`` ->
``ng1_corpus.csv``: the repositories read, findings or not).  ``--select`` picks the rules;
by default, every rule on by default in the families the labels mention (a label for NG101
runs NG101-NG105 and NG107, so a false positive of any of them shows up), and the opt-in rules
the labels name (NG205).  Each finding is matched to a label by (repository, commit, path,
line, code):

* a finding labelled ``TP`` or ``FP`` counts as such; one with no label is listed as
  *unlabelled* (read it and add a row);
* an ``FN`` label is a bug found by reading: flagged now, it counts as found (relabel it
  ``TP``); not flagged, it is a miss;
* a ``TP`` label the linter no longer reports is a miss too.

Precision = TP / (TP + FP) over what is reported; recall = found / (found + missed) over the
bugs the labels know.  Then the false positives and misses are counted by cause: the category
a reason starts with (``framework: Lightning validation_step runs under no_grad``).  Exits 1
when something is unlabelled, so the corpus stays complete; 2 on unusable input.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import (HERE, Label, corpus_of, export, lint, read_corpus,  # noqa: E402
                    read_labels, rules_on_by_default)


def default_selection(labels: list[Label]) -> str:
    families = {label.code[:3] for label in labels}
    on = [code for code in rules_on_by_default() if code[:3] in families]
    opt_in = sorted({label.code for label in labels} - set(on))  # labelled, so meant to run
    return ",".join(on + opt_in)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def score(labels: list[Label], repositories: set[tuple[str, str]], select: str, mirrors: Path,
          cache: Path) -> int:
    codes = sorted({label.code for label in labels} | set(select.split(",")))
    by_key = {label.key: label for label in labels}
    counts: dict[str, Counter] = defaultdict(Counter)
    unlabelled, missed, wrong = [], [], []
    reported_keys = set()
    for repo, commit in sorted(repositories | {(label.repo, label.commit) for label in labels}):
        directory = export(repo, commit, mirrors, cache)
        for finding in lint(directory, "--select", select):
            key = (repo, commit, finding["path"], finding["line"], finding["code"])
            reported_keys.add(key)
            label = by_key.get(key)
            if label is None:
                unlabelled.append(f"{repo}@{commit[:12]} {key[2]}:{key[3]} {key[4]} "
                                  f"{finding['message']}")
            elif label.label == "FP":
                counts[label.code]["FP"] += 1
                wrong.append(label)
            else:  # TP, or an FN the linter now finds
                counts[label.code]["TP"] += 1
                counts[label.code]["found"] += 1
    for label in labels:
        if label.label in ("TP", "FN") and label.key not in reported_keys:
            counts[label.code]["missed"] += 1
            missed.append(label)
    print(f"{'rule':6} {'TP':>4} {'FP':>4} {'missed':>6}  precision  recall")
    for code in sorted(set(codes) | set(counts)):
        c = counts[code]
        precision = _share(c["TP"], c["TP"] + c["FP"])
        recall = _share(c["found"], c["found"] + c["missed"])
        print(f"{code:6} {c['TP']:4} {c['FP']:4} {c['missed']:6}  {precision:>9}  {recall:>6}")
    for title, rows in (("false positives by cause", wrong), ("misses by cause", missed)):
        if rows:
            causes = Counter((label.code, label.cause) for label in rows)
            print(f"\n{title}:\n  " + "\n  ".join(
                f"{code} {cause}: {n}" for (code, cause), n in sorted(causes.items())))
    for title, lines in (("missed", [f"{m.repo}@{m.commit[:12]} {m.path}:{m.line} {m.code} "
                                     f"({m.label}): {m.reason}" for m in missed]),
                         ("unlabelled", unlabelled)):
        if lines:
            print(f"\n{title} ({len(lines)}):\n  " + "\n  ".join(lines))
    return 1 if unlabelled else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, action="append")
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nograd-realworld"))
    parser.add_argument("--select", help="rules to run (default: the labelled families' rules)")
    args = parser.parse_args(argv)
    try:
        # Each corpus is scored on its own: its rule families on its repositories only.
        worst = 0
        for path in args.labels or sorted(HERE.glob("*_labels.csv")):
            labels = read_labels(path)
            repositories = set(read_corpus(corpus_of(path))) if corpus_of(path).exists() else set()
            print(f"== {path.name}")
            worst = max(worst, score(labels, repositories, args.select or default_selection(labels),
                                     args.mirrors, args.cache))
        return worst
    except (OSError, ValueError, RuntimeError, subprocess.SubprocessError) as error:
        print(f"score.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
