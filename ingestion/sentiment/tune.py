"""Choose the label thresholds on the "tune" split of the labelled corpus (never on "heldout").

    python -m ingestion.sentiment.tune [--n 3000 --seeds 0 1 2]

Scores every text once, then tries every (negative, positive) threshold pair on a 0.025 grid and prints, per language,
the pair with the best macro-F1 on "tune" and that macro-F1. THRESHOLDS in __init__.py holds what it printed.
"""

from __future__ import annotations

import argparse

from . import LANGUAGES, evaluate, score_many

GRID = [round(-0.6 + 0.025 * i, 3) for i in range(49)]  # -0.6 .. 0.6


def choose_thresholds(rows: list[dict]) -> dict[str, tuple[tuple[float, float], float]]:
    results = score_many(row["text"] for row in rows)
    best = {}
    for language in LANGUAGES:
        pairs = [(row, got) for row, got in zip(rows, results) if row["language"] == language]
        candidates = []
        for low in GRID:
            for high in GRID:
                if high <= low:
                    continue
                labelled = [
                    {"text": None, "language": language, "label": row["label"],
                     "got": "negative" if got.score <= low else "positive" if got.score >= high else "neutral"}
                    for row, got in pairs
                ]  # fmt: skip
                candidates.append((_macro_f1(labelled), -abs(low + high), (low, high)))
        f1, _, pair = max(candidates)
        best[language] = (pair, f1)
    return best


def _macro_f1(rows: list[dict]) -> float:
    total = 0.0
    for label in ("negative", "neutral", "positive"):
        tp = sum(r["label"] == label and r["got"] == label for r in rows)
        fp = sum(r["label"] != label and r["got"] == label for r in rows)
        fn = sum(r["label"] == label and r["got"] != label for r in rows)
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return total / 3


def main() -> None:
    from ingestion.demo_world.texts import corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    rows = [row for seed in args.seeds for row in corpus("tune", n=args.n, seed=seed)]
    best = choose_thresholds(rows)
    for language, (pair, f1) in best.items():
        print(f"{language}: thresholds {pair}  macro-F1 on tune {f1:.3f}")
    chosen = {language: pair for language, (pair, _) in best.items()}
    for language, result in evaluate(rows, chosen).items():
        print(f"{language}: check with evaluate(): macro-F1 {result['macro_f1']:.3f} (n {result['n']})")


if __name__ == "__main__":
    main()
