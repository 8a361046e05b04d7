"""The identity graph's components, person registry and merge log, run by dbt on hand-built graphs.

A warehouse holds only ``intermediate.int_identity__records`` and ``intermediate.int_identity__edges``, written
here; dbt builds what follows them (components, registry, identifier map, merge log, size report). The guard
rails of the edges themselves are dbt unit tests (``models/intermediate/_intermediate.yml``).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from orchestration.lib.dbt import DBT_PROJECT_DIR

DOWNSTREAM = [
    "int_identity__components", "int_identity__person_registry", "int_identity__identifier_map",
    "identity_merge_log", "identity_oversized_components", "identity_components_over_the_cap",
]  # fmt: skip
KEY = "k" * 40


class Graph:
    """A warehouse with a hand-built identity graph, and dbt to build on it."""

    def __init__(self, folder: Path, key: str = KEY, target: Path | None = None):
        self.folder = folder
        self.target = target or folder / "target"  # one per module: dbt parses the project once
        self.path = folder / "warehouse.duckdb"
        self.key = key
        shutil.rmtree(folder, ignore_errors=True)  # a fresh warehouse (and no key file) at a path used before
        folder.mkdir(parents=True)

    def write(self, records: list[str], edges: list[tuple[str, str]]) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute("create schema if not exists intermediate")
            con.execute("create or replace table intermediate.int_identity__records "
                        "(node varchar, identifier_type varchar, identifier_value varchar)")  # fmt: skip
            rows = pa.table({"node": records, "identifier_type": [r.split(":", 1)[0] for r in records],
                             "identifier_value": [r.split(":", 1)[1] for r in records]})  # fmt: skip
            con.execute("insert into intermediate.int_identity__records select * from rows")
            con.execute("create or replace table intermediate.int_identity__edges "
                        "(node varchar, linked_node varchar, link_type varchar)")  # fmt: skip
            pairs = pa.table({"node": [a for a, _ in edges], "linked_node": [b for _, b in edges]})
            con.execute("insert into intermediate.int_identity__edges select node, linked_node, 'match_key' from pairs")

    def build(self, command: str = "build") -> None:
        """``dbt build`` (models and their tests) or ``dbt run`` (models only) of what follows the graph."""
        from orchestration.lib.dbt import run_dbt

        result = run_dbt([command, "--select", *DOWNSTREAM], self.path, self.target, log_dir=self.folder / "logs",
                         env={"JW_PSEUDONYM_KEY": self.key})  # fmt: skip
        assert result.returncode == 0, result.stdout[-3000:]

    def result(self, node: str) -> dict:
        """What the last dbt command reported for ``node`` (status, execution_time, failures)."""
        results = json.loads((self.target / "run_results.json").read_text())["results"]
        return next(r for r in results if r["unique_id"].split(".")[2] == node)

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def ids(self) -> dict[str, str]:
        return dict(self.query("select identifier_type || ':' || identifier_value, person_id "
                               "from intermediate.int_identity__identifier_map"))  # fmt: skip

    def log(self) -> list[tuple]:
        return self.query("select event_type, person_id, other_person_id, records from marts.identity_merge_log "
                          "order by logged_at, event_type, person_id")  # fmt: skip


def chain(prefix: str, n: int) -> tuple[list[str], list[tuple[str, str]]]:
    """n records, each sharing a key with the next one."""
    records = [f"{prefix}:{i:05d}" for i in range(n)]
    edges = [(records[i], f"email:{prefix}{i}") for i in range(n - 1)]
    edges += [(records[i + 1], f"email:{prefix}{i}") for i in range(n - 1)]
    return records, edges


def linked(records: list[str], key: str) -> list[tuple[str, str]]:
    return [(r, key) for r in records]


# --- components on small graphs, without dbt --------------------------------------------------------------------

def components_module():
    path = DBT_PROJECT_DIR / "models" / "intermediate" / "int_identity__components.py"
    spec = importlib.util.spec_from_file_location("int_identity__components", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def label(n: int, edges: list[tuple[int, int]]) -> tuple[dict[int, int], int]:
    con = duckdb.connect()
    con.execute("create temp table cc_nodes as select range + 1 as id from range(?)", [n])
    con.execute("create temp table cc_edges (a bigint, b bigint)")
    both = edges + [(b, a) for a, b in edges]
    pairs = pa.table({"a": pa.array([a for a, _ in both], pa.int64()), "b": pa.array([b for _, b in both], pa.int64())})
    con.execute("insert into cc_edges select a, b from pairs")
    rounds = components_module().label_components(con, 100)
    return dict(con.execute("select id, label from cc_label").fetchall()), rounds


@pytest.mark.parametrize(
    "n, edges, expected",
    [
        (4, [(1, 2), (2, 3), (3, 4), (4, 1)], {1: 1, 2: 1, 3: 1, 4: 1}),  # a cycle
        (5, [(3, 1), (3, 2), (3, 4), (3, 5)], {i: 1 for i in range(1, 6)}),  # a star around 3
        (6, [(1, 2), (2, 3), (4, 5), (5, 6)], {1: 1, 2: 1, 3: 1, 4: 4, 5: 4, 6: 4}),  # two components
        (6, [(1, 2), (2, 3), (4, 5), (5, 6), (3, 6)], {i: 1 for i in range(1, 7)}),  # ... bridged by one edge
        (3, [], {1: 1, 2: 2, 3: 3}),  # no edges
        (5, [(5, 4), (4, 3), (3, 2), (2, 1)], {i: 1 for i in range(1, 6)}),  # a chain towards its smallest
    ],
)
def test_components_of_small_graphs(n, edges, expected):
    assert label(n, edges)[0] == expected


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled"])
def test_a_long_chain_converges_in_few_rounds(order):
    import random

    n = 10_000
    ids = list(range(1, n + 1))
    if order == "descending":
        ids.reverse()
    elif order == "shuffled":
        random.Random(6).shuffle(ids)
    labels, rounds = label(n, list(zip(ids, ids[1:])))
    assert set(labels.values()) == {1}
    assert rounds <= 20  # pointer jumping: logarithmic, not 10,000 rounds of propagation


# --- dbt on hand-built warehouses --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture()
def folder(target) -> Path:
    """The graph's folder: one path for every test of the module, emptied by ``Graph``. dbt parses the whole
    project again whenever the warehouse path differs from its saved parse's (the path is part of the profile)."""
    return target.parent / "graph"


def test_a_10000_record_chain_is_one_person_and_the_cap_cuts_a_shared_number(folder, target):
    graph = Graph(folder, target=target)
    records, edges = chain("shop_customer", 10_000)
    people = [[f"loyalty_member:{p:03d}{i}" for i in range(2)] for p in range(20)]  # 20 people with 2 memberships
    records += [r for pair in people for r in pair]
    edges += [e for p, pair in enumerate(people) for e in linked(pair, f"email:person{p}")]
    edges += linked([pair[0] for pair in people], "phone:+491550000123")  # one number on 20 of them
    graph.write(records, edges)
    graph.build()
    assert graph.result("int_identity__components")["execution_time"] < 30  # one to two seconds on an idle machine
    [(rounds,)] = graph.query("select distinct rounds from intermediate.int_identity__components")
    assert rounds <= 30  # two passes (before and after the cap cut), each logarithmic in the chain
    ids = graph.ids()
    assert len({ids[r] for r in records if r.startswith("shop_customer")}) == 1
    assert len({ids[r] for pair in people for r in pair}) == 20 and all(ids[a] == ids[b] for a, b in people)
    # the chain: over the cap (30 records) with no key carrying 3 records: kept and reported; the number: cut
    assert graph.query(
        "select action, key_type, count(*), min(component_records), max(key_records) "
        "from marts.identity_oversized_components group by all order by all"
    ) == [("cut", "phone", 1, 40, 20), ("kept", "email", 9_999, 10_000, 2)]
    [(token, sample)] = graph.query("select key_token, records_sample from marts.identity_oversized_components where action = 'cut'")
    assert sample == "loyalty_member:0000, loyalty_member:0010, loyalty_member:0020, loyalty_member:0030, loyalty_member:0040"
    assert graph.query("select count(*) from marts.identity_oversized_components where key_token like '%@%' "
                       "or key_token like '%491550000123%' or length(key_token) <> 16") == [(0,)]  # fmt: skip
    warning = graph.result("identity_components_over_the_cap")  # the report's 10,000 keys and the chain itself
    assert (warning["status"], warning["failures"]) == ("warn", 10_001)


def test_ids_follow_records_across_runs_and_the_log_says_why(folder, target):
    graph = Graph(folder, target=target)
    a, b, c, d = ["shop_customer:a1", "shop_customer:a2"], ["loyalty_member:b1"], ["shop_customer:c1", "shop_customer:c2"], [
        "iot_device:d1", "iot_device:d2", "iot_device:d3"]  # fmt: skip
    base = linked(a, "email:a") + linked(c, "email:c") + linked(d[:2], "email:d") + linked(d[1:], "phone:d")
    graph.write(a + b + c + d, base)
    graph.build()
    first = graph.ids()
    assert len(set(first.values())) == 4 and all(p.startswith("person_") and len(p) == 23 for p in first.values())

    # a record joins A: it takes A's id; B's record gets C's key: B merges into C (larger, as old)
    f = [f"shop_customer:f{i}" for i in range(5)]  # a new person with five records
    graph.write(a + ["shop_customer:a3"] + b + c + d + f,
                base + linked(["shop_customer:a3"], "email:a") + linked(b, "email:c") + linked(f, "email:f"))  # fmt: skip
    graph.build("run")
    second = graph.ids()
    assert second["shop_customer:a3"] == first["shop_customer:a1"]
    assert second["loyalty_member:b1"] == second["shop_customer:c1"] == first["shop_customer:c1"]
    assert {second[r] for r in a + d} == {first[r] for r in a + d}
    assert graph.log() == [("merge", first["shop_customer:c1"], first["loyalty_member:b1"], 1)]

    # D loses the link to its third device: the larger part keeps the id, the device gets a new one;
    # F (new, 5 records) meets A (older, 3 records): A's id survives
    edges = [e for e in base if e[1] != "phone:d"] + linked(["shop_customer:a3"], "email:a") + linked(b, "email:c")
    edges += linked(f, "email:f") + [("shop_customer:f0", "email:a")]
    graph.write(a + ["shop_customer:a3"] + b + c + d + f, edges)
    graph.build("run")
    third = graph.ids()
    assert third["iot_device:d1"] == third["iot_device:d2"] == first["iot_device:d1"]
    assert third["iot_device:d3"] not in set(second.values())
    assert {third[r] for r in a + f} == {first["shop_customer:a1"]}
    assert sorted(graph.log()[1:]) == sorted([
        ("split", first["iot_device:d1"], third["iot_device:d3"], 1),
        ("merge", first["shop_customer:a1"], second["shop_customer:f0"], 5),
    ])  # fmt: skip

    # a run with no new data: no id changes, nothing logged
    graph.build("run")
    assert graph.ids() == third and len(graph.log()) == 3

    # a record erased at its source leaves the registry; its person goes on
    graph.write(a + ["shop_customer:a3"] + b + c + d[:2] + f, [e for e in edges if e[0] != "iot_device:d3"])
    graph.build()
    assert graph.query("select count(*) from intermediate.int_identity__person_registry where node = 'iot_device:d3'") == [(0,)]
    assert graph.ids()["shop_customer:a1"] == first["shop_customer:a1"] and len(graph.log()) == 3


def test_fresh_builds_give_the_same_ids_only_with_the_same_key(folder, target, monkeypatch):
    """Without JW_PSEUDONYM_KEY a key is generated once next to the warehouse (outside it) and kept."""
    monkeypatch.delenv("JW_PSEUDONYM_KEY", raising=False)
    records, edges = chain("loyalty_card", 50)
    records += ["shop_customer:x", "shop_customer:y"]
    graph = Graph(folder, key="", target=target)
    graph.write(records, edges)

    def fresh_build(key: str) -> dict[str, str]:
        with duckdb.connect(str(graph.path)) as con:
            con.execute("drop table if exists intermediate.int_identity__person_registry")
        graph.key = key
        graph.build("run")
        return graph.ids()

    generated = fresh_build("")
    key_file = folder / "pseudonym.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600" and len(key_file.read_text().strip()) == 64
    assert len(set(generated.values())) == 3
    assert fresh_build(key_file.read_text().strip()) == generated
    other = fresh_build("o" * 40)
    assert other.keys() == generated.keys() and not set(other.values()) & set(generated.values())
