"""The offline sentiment scorer (ingestion.sentiment): rules on hand-made cases, and macro-F1 per language on the
demo world's labelled corpus (ingestion.demo_world.texts), whose "heldout" split the scorer was never tuned on."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from ingestion import sentiment
from ingestion.demo_world import texts
from ingestion.sentiment import Sentiment, detect_language, evaluate, score, score_many
from orchestration.cli import cli

# Floors on macro-F1 on the "heldout" split (3,000 texts, 1,500 per language, seeds 0 and 1). Measured on heldout seeds
# 0-4 after tuning on "tune" only: de 0.835-0.865 (sd 0.012), en 0.811-0.833 (sd 0.009). Each floor sits 0.04-0.055,
# about four seed-to-seed standard deviations, below the lowest of the five, so a reworded corpus does not fail it,
# a lost rule (negation, contrast, typos) does. See ingestion/sentiment/README.md.
HELDOUT_FLOOR = {"de": 0.78, "en": 0.77}


def s(text: str) -> float:
    return score(text).score


# --- the rules ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, label",
    [
        ("Das Essen war gut.", "positive"),
        ("Das Essen war nicht gut.", "negative"),
        ("Das gefällt mir nicht.", "negative"),
        ("Kein Problem, alles bestens!", "positive"),
        ("Der Verkäufer war unfreundlich.", "negative"),
        ("Die Lieferung kam am Dienstag in die Filiale.", "neutral"),
        ("Wann öffnet der Laden am Samstag?", "neutral"),
        ("The food was good.", "positive"),
        ("The food was not good.", "negative"),
        ("The staff were rude and the delivery was late.", "negative"),
        ("My parcel arrived on Tuesday at the store.", "neutral"),
        ("When does the shop open on Saturday?", "neutral"),
    ],
)
def test_labels_of_plain_cases(text, label):
    assert score(text).label == label, score(text)


def test_negation_flips_and_softens():
    assert s("gut") > 0 > s("nicht gut")
    assert s("schlecht") < 0 < s("nicht schlecht") < s("gut")  # "nicht schlecht" is mild praise, not "gut"
    assert s("keine Probleme") > 0 > s("Probleme")
    assert s("Funktioniert leider nicht") < 0 < s("Funktioniert")
    assert s("not bad") > 0 > s("bad")
    assert s("I don't like it") < 0 < s("I like it")


def test_intensifiers_and_diminishers():
    assert s("sehr gut") > s("gut") > s("etwas gut") > 0
    assert s("extrem teuer") < s("teuer") < s("etwas teuer") < 0
    assert s("extremely good") > s("good") > s("slightly good") > 0
    assert s("SUPER freundlich, danke") > s("super freundlich, danke")  # capitals amid lower case
    assert s("Gut!!!") > s("Gut")


def test_contrast_weights_what_follows():
    assert score("Die Jacke ist schön, aber die Lieferung war eine Katastrophe.").label == "negative"
    assert score("Die Lieferung war langsam, aber die Jacke ist wunderschön.").label == "positive"
    assert score("The jacket is nice but the delivery was a disaster.").label == "negative"
    assert score("The delivery was slow but the jacket is wonderful.").label == "positive"


def test_emoji_and_emoticons():
    assert score("Paket heute angekommen 😍").label == "positive"
    assert score("Paket heute angekommen 😡").label == "negative"
    assert score("Package arrived today :)").label == "positive"
    assert score("Package arrived today 👎").label == "negative"
    assert score("never again 😡").label == "negative"  # an emoji is not negated by a preceding "never"


def test_typos_umlauts_and_stretched_letters():
    assert s("schoen") == s("schön") > 0
    assert s("GROSSARTIG") == s("großartig") > 0
    assert s("Sehr freundlcih") > 0 and s("suuuuper") > 0 and s("furchtbra") < 0
    assert s("terible service") < 0 and s("goooood") > 0 and s("dissapointing") < 0


def test_language_detection_and_empty_texts():
    assert detect_language("Die Lieferung war pünktlich, danke!") == "de"
    assert detect_language("Ich bin sehr zufrieden") == "de"
    assert detect_language("The delivery was on time, thanks!") == "en"
    assert detect_language("I am very happy with it") == "en"
    for nothing in (None, "", "   ", "1234"):
        assert detect_language(nothing) is None
        assert score(nothing) == Sentiment(None, 0.0, "neutral")
    result = score("Mir gefällt die neue Filiale sehr")
    assert result.language == "de" and -1 <= result.score <= 1 and result.label in sentiment.LABELS


def test_score_many_matches_score_and_is_fast():
    rows = texts.corpus("tune", n=3000, seed=5)
    batch = [row["text"] for row in rows]
    assert score_many(batch[:300]) == [score(text) for text in batch[:300]]
    many = [f"{text} #{i}" for i, text in enumerate(batch * 4)][:10_000]  # 10,000 distinct texts
    started = time.process_time()  # CPU seconds of this process: what the scorer costs, whatever else runs
    results = score_many(many)
    seconds = time.process_time() - started
    assert len(results) == 10_000 and all(r.label in sentiment.LABELS for r in results)
    assert seconds < 2.0, f"10,000 texts took {seconds:.2f} CPU s"  # ~0.85 s measured


def test_evaluate_counts_and_macro_f1():
    rows = [
        {"text": "Das ist sehr gut", "language": "de", "label": "positive"},
        {"text": "Das ist sehr schlecht", "language": "de", "label": "negative"},
        {"text": "Das Paket kommt am Montag", "language": "de", "label": "neutral"},
        {"text": "Das Paket kommt am Montag", "language": "de", "label": "negative"},  # a miss: neutral for negative
        {"text": "This is great", "language": "en", "label": "positive"},
    ]
    report = evaluate(rows)
    de = report["de"]
    assert de["n"] == 4 and de["language_errors"] == 0
    assert de["confusion"]["negative"] == {"negative": 1, "neutral": 1, "positive": 0}
    # F1: negative 2*1/(2+0+1) = 2/3, neutral 2*1/(2+1+0) = 2/3, positive 1
    assert de["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert report["en"]["n"] == 1 and report["en"]["f1"]["positive"] == 1.0


# --- the labelled corpus -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_heldout_macro_f1_floors(seed):
    report = evaluate(texts.corpus("heldout", n=3000, seed=seed))
    assert set(report) == set(sentiment.LANGUAGES)
    for language, floor in HELDOUT_FLOOR.items():
        result = report[language]
        assert result["n"] >= 1000
        assert result["macro_f1"] >= floor, (language, result["macro_f1"], result["confusion"])
        assert result["language_errors"] <= 0.03 * result["n"], (language, result["language_errors"])


def test_cli_score_and_eval():
    result = CliRunner().invoke(cli, ["sentiment", "score", "--json", "Das ist nicht gut", "Absolutely wonderful!"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert (first["language"], first["label"]) == ("de", "negative") and first["score"] < 0
    assert (second["language"], second["label"]) == ("en", "positive") and second["score"] > 0
    result = CliRunner().invoke(cli, ["sentiment", "eval", "--split", "heldout", "--n", "600", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["languages"]
    assert set(report) == {"de", "en"} and all(0 <= r["macro_f1"] <= 1 for r in report.values())
    result = CliRunner().invoke(cli, ["sentiment", "eval", "--n", "300"])
    assert result.exit_code == 0 and "de: macro-F1" in result.output and "en: macro-F1" in result.output
