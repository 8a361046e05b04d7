"""Score identity resolution against the demo world's ground truth, pairwise.

Two source identifiers form a true pair when they belong to the same person, a predicted pair when the
warehouse gave them the same ``person_id`` (``intermediate.int_identity__identifier_map``). Precision = correct predicted pairs / predicted pairs;
recall = correct predicted pairs / true pairs. Identifiers are those of the ground truth.
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
    left join intermediate.int_identity__identifier_map m using (identifier_type, identifier_value)
),
pairs as (
    select a.person_id = b.person_id as same_person, a.person_key = b.person_key as same_key
    from joined a
    join joined b
      on (a.identifier_type, a.identifier_value) < (b.identifier_type, b.identifier_value)
     and (a.person_id = b.person_id or a.person_key = b.person_key)
)
select
    (select count(*) from truth),
    (select count(*) from joined where person_key is not null),
    coalesce(sum(case when same_person and same_key then 1 else 0 end), 0),
    coalesce(sum(case when same_key then 1 else 0 end), 0),
    coalesce(sum(case when same_person then 1 else 0 end), 0)
from pairs
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
