"""Score the linter on labelled real code: per rule precision and recall.

    python bench/realworld/score.py [--labels bench/realworld/ng1_labels.csv] \\
        [--mirrors /work/.mirror] [--cache /tmp/nograd-realworld] [--select NG1]

For every repository and commit in the labels, the linter runs on an export of its Python
files (``--select`` picks the rules, default: every rule the labels mention).  Each finding is
matched to a label by (repository, path, line, code):

* a finding labelled ``TP`` or ``FP`` counts as such; one with no label is listed as
  *unlabelled* (read it and add a row);
* an ``FN`` label is a bug found by reading: flagged now, it counts as found (relabel it
  ``TP``); not flagged, it is a miss;
* a ``TP`` label the linter no longer reports is a miss too.

Precision = TP / (TP + FP) over what is reported; recall = found / (found + missed) over the
bugs the labels know.  Exits 1 when something is unlabelled, so the corpus stays complete.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import HERE, export, lint, read_labels  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, action="append")
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nograd-realworld"))
    parser.add_argument("--select", help="rules to run (default: the codes labelled)")
    args = parser.parse_args(argv)
    labels = [label for path in (args.labels or sorted(HERE.glob("*_labels.csv")))
              for label in read_labels(path)]
    codes = sorted({label.code for label in labels})
    select = args.select or ",".join(codes)
    by_key = {label.key: label for label in labels}
    counts: dict[str, Counter] = defaultdict(Counter)
    unlabelled, missed = [], []
    reported_keys = set()
    for repo, commit in sorted({(label.repo, label.commit) for label in labels}):
        directory = export(repo, commit, args.mirrors, args.cache)
        for finding in lint(directory, "--select", select):
            key = (repo, finding["path"], finding["line"], finding["code"])
            reported_keys.add(key)
            label = by_key.get(key)
            if label is None:
                unlabelled.append(f"{repo}@{commit[:12]} {key[1]}:{key[2]} {key[3]} "
                                  f"{finding['message']}")
            elif label.label == "FP":
                counts[label.code]["FP"] += 1
            else:  # TP, or an FN the linter now finds
                counts[label.code]["TP"] += 1
                counts[label.code]["found"] += 1
    for label in labels:
        if label.label in ("TP", "FN") and label.key not in reported_keys:
            counts[label.code]["missed"] += 1
            missed.append(f"{label.repo}@{label.commit[:12]} {label.path}:{label.line} "
                          f"{label.code} ({label.label}): {label.reason}")
    print(f"{'rule':6} {'TP':>4} {'FP':>4} {'missed':>6}  precision  recall")
    for code in codes:
        c = counts[code]
        precision = c["TP"] / (c["TP"] + c["FP"]) if c["TP"] + c["FP"] else float("nan")
        recall = c["found"] / (c["found"] + c["missed"]) if c["found"] + c["missed"] else float("nan")
        print(f"{code:6} {c['TP']:4} {c['FP']:4} {c['missed']:6}  {precision:9.0%}  {recall:6.0%}")
    for title, rows in (("missed", missed), ("unlabelled", unlabelled)):
        if rows:
            print(f"\n{title} ({len(rows)}):\n  " + "\n  ".join(rows))
    return 1 if unlabelled else 0


if __name__ == "__main__":
    sys.exit(main())
