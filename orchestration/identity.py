"""``journey identity train``: train the probabilistic linkage model on a demo world and save it in the repo.

A demo world is written to a scratch folder, its shop, ESP, social and loyalty systems are loaded into a scratch
warehouse, dbt builds ``int_identity__match_records`` there, and Splink learns the model's parameters from those
records without looking at the ground truth (:func:`ingestion.linkage.train`). The ground truth is used only
afterwards, to say how well the links of the new model alone do on that world (:func:`link_scores`).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ingestion import pseudonym

MATCHED_SOURCES = ("shop", "esp", "social", "loyalty")
RECORDS = "pii.int_identity__match_records"  # clear names and addresses: schema pii


@dataclass(frozen=True)
class LinkScore:
    """Pairwise precision and recall of links among the matched records (shop, ESP, social, loyalty)."""

    links: int
    correct: int
    true_pairs: int

    @property
    def precision(self) -> float:
        return self.correct / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.true_pairs if self.true_pairs else 1.0


def build_records(source_systems: Path, workdir: Path, select: str = "+int_identity__match_records") -> Path:
    """Load the matched sources of ``source_systems`` into a warehouse in ``workdir``; dbt builds the records there
    (and whatever else ``select`` names that these sources feed: ``+identity_review`` scores them too)."""
    from ingestion import pipelines

    from .lib.dbt import run_dbt

    warehouse = workdir / "warehouse.duckdb"
    with pipelines.source_endpoints(source_systems) as endpoints:
        for name in MATCHED_SOURCES:
            pipelines.load(name, endpoints, warehouse, workdir / "dlt")
    run_dbt(["run", "--quiet", "--select", select], warehouse, workdir / "dbt_target", log_dir=workdir / "dbt_logs",
            capture=False, check=True)
    return warehouse


def link_threshold() -> float:
    """``identity_link_threshold`` of dbt_project.yml: pairs at or above it join the identity graph."""
    import yaml

    from .lib.dbt import DBT_PROJECT_DIR

    return float(yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["identity_link_threshold"])


def read_records(warehouse: Path) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select * from {RECORDS} order by node").df()


def link_scores(links: pd.DataFrame, ground_truth: Path, threshold: float, key: bytes | None = None) -> LinkScore:
    """Precision and recall of ``links`` at ``threshold`` (pairs, transitive closure not taken) against the truth.

    ``key``: the pseudonym key of the warehouse the links come from (its nodes name e-mails and handles by their
    keyed hash, ingestion.pseudonym); None compares the truth's identifiers in clear."""
    from ingestion import dbt_pseudonym

    with duckdb.connect() as con:
        hashed = "('')"
        if key is not None:
            dbt_pseudonym.register(con, secret=key)
            hashed = "('esp_contact', 'social_handle')"
        con.register("links", links[links["match_probability"] >= threshold][["node_a", "node_b"]])
        return LinkScore(*con.execute(
            """
            with truth as (
                select identifier_type || ':' || case when identifier_type in {hashed}
                    then jw_keyed_hash(identifier_value) else identifier_value end as node, person_id
                from read_parquet(?) where identifier_type in ('shop_customer', 'esp_contact', 'social_handle', 'loyalty_member')
            )
            select
                (select count(*) from links),
                (select count(*) from links join truth a on a.node = links.node_a join truth b on b.node = links.node_b
                 where a.person_id = b.person_id),
                (select count(*) from truth a join truth b on a.person_id = b.person_id and a.node < b.node)
            """.format(hashed=hashed),
            [str(ground_truth)],
        ).fetchone())


def train_on_demo_world(seed: int, people: int, days: int, output: Path, *, threshold: float | None = None,
                        echo=print) -> dict:
    """Generate, load, build the records, train, save to ``output``; returns the model and what was measured."""
    from ingestion import linkage
    from ingestion.demo_world.generator import generate
    from ingestion.demo_world.writers import write_world

    with tempfile.TemporaryDirectory(prefix="jw-identity-train-") as scratch:
        workdir = Path(scratch)
        written = write_world(generate(seed, people, days), workdir / "source_systems")
        echo(f"demo world: {people} people, {days} days, seed {seed}; loading shop, esp, social, loyalty ...")
        warehouse = build_records(workdir / "source_systems", workdir)
        records = read_records(warehouse)
        started = time.monotonic()
        model = linkage.train(records, seed=seed)
        trained = time.monotonic() - started
        linkage.save(model, output)
        echo(f"trained on {len(records):,} records in {trained:.1f} s -> {output}")
        if threshold is not None:
            started = time.monotonic()
            links = linkage.predict(records, model, threshold=min(threshold, 0.5))
            score = link_scores(links, Path(written["ground_truth"]), threshold, pseudonym.key(warehouse))
            echo(f"links >= {threshold}: {score.links:,} pairs, precision {score.precision:.4f}, recall "
                 f"{score.recall:.4f} (pairs among the matched records, no transitive closure); "
                 f"scored in {time.monotonic() - started:.1f} s")
    return model
