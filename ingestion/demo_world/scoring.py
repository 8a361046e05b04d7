"""Score identity resolution against the demo world's ground truth, pairwise.

Two source identifiers form a true pair when they belong to the same person, a predicted pair when the
warehouse gave them the same ``person_id`` (``pii.person_identifiers``: the identifier map's records in clear). Precision = correct
predicted pairs / predicted pairs; recall = correct predicted pairs / true pairs. Identifiers are those of the
ground truth. Pairs are counted per group (n identifiers make n (n - 1) / 2 pairs), so scoring 20,000 people
takes no pairwise join.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

PAIRS_SQL = """
with truth as (select * from read_parquet(?)),
joined as (
    select t.identifier_type, t.identifier_value, t.person_id, m.person_id as person_key
    from truth t
    left join pii.person_identifiers m using (identifier_type, identifier_value)
),
-- pairs within a group of n identifiers: n (n - 1) / 2; counted per group, never by joining identifiers pairwise
true_groups as (select count(*) as n from joined group by person_id),
predicted_groups as (select count(*) as n from joined where person_key is not null group by person_key),
correct_groups as (select count(*) as n from joined where person_key is not null group by person_id, person_key)
select
    (select count(*) from truth),
    (select count(*) from joined where person_key is not null),
    (select coalesce(sum(n * (n - 1) / 2), 0) from correct_groups),
    (select coalesce(sum(n * (n - 1) / 2), 0) from predicted_groups),
    (select coalesce(sum(n * (n - 1) / 2), 0) from true_groups)
"""


@dataclass(frozen=True)
class IdentityScore:
    identifiers: int
    identifiers_resolved: int
    correct_pairs: int
    predicted_pairs: int
    true_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0


def score_identity(warehouse: Path, ground_truth: Path) -> IdentityScore:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        row = con.execute(PAIRS_SQL, [str(ground_truth)]).fetchone()
    return IdentityScore(*(int(v) for v in row))


SENTIMENT_SQL = """
select truth.language, truth.label, scored.sentiment_label
from read_parquet(?) as truth
left join intermediate.int_experience__text_sentiment as scored using (text_id)
"""


def score_sentiment(warehouse: Path, truth_path: Path) -> dict[str, dict]:
    """The warehouse's sentiment labels against the demo world's texts' truth, per true language:
    ``ingestion.sentiment.label_report`` (macro-F1, accuracy, n, confusion) plus ``missing`` (texts the warehouse has no
    score for, counted as neutral: a text lost on the way is an error, not a pass)."""
    from ingestion.sentiment import label_report

    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(SENTIMENT_SQL, [str(truth_path)]).fetchall()
    report = {}
    for language in sorted({language for language, _, _ in rows}):
        mine = [(label, got) for lang, label, got in rows if lang == language]
        report[language] = {**label_report((label, got or "neutral") for label, got in mine),
                            "missing": sum(got is None for _, got in mine)}
    return report
