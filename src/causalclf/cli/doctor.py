"""`causalclf doctor MODEL`: a saved model checked: valid, deterministic, padding-invariant, round-trips."""

from __future__ import annotations

from argparse import Namespace

from causalclf.cli.checks import model_folder
from causalclf.data.loaders import read_texts
from causalclf.doctor import diagnose, format_checks
from causalclf.methods import load_classifier


def run(args: Namespace) -> int:
    model_folder(args.model_dir)
    texts = None
    if args.input:
        texts, _ = read_texts(args.input, text=args.text)
        texts = texts[: args.limit]
    clf = load_classifier(args.model_dir)
    print(
        f"{args.model_dir}: {clf.method_name} classifier, {len(clf.labels_)} labels "
        f"({'multi' if clf.multi_label else 'single'}-label)"
    )
    checks = diagnose(clf, texts, tolerance=args.tolerance)
    print(format_checks(checks))
    failed = [c.name for c in checks if c.passed is False]
    print("all checks passed" if not failed else f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return 1 if failed else 0
