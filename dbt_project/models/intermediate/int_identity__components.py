"""Connected components of the identity graph, iteratively: min-label propagation with pointer jumping.

Every node starts labelled with itself (an integer: records first, in node order, so a component's smallest
label is its smallest record). Each round, set-based SQL on the warehouse:
  1. propagation: a node takes the smallest label among itself and its neighbours;
  2. hooking: the node a label points to takes that smaller label too (whole trees move at once);
  3. pointer jumping: label(v) := label(label(v)) until nothing changes (a chain halves each time).
until a round changes no label. A chain of n records converges in O(log n) jumps; nothing grows with the
square of a component (the recursive reachability CTE this replaces did).

The cap: a component with more than `max_component_size` records is held together by keys that carry too
many records (a placeholder nobody listed, a shop's default phone). The keys carrying the most records in it
(at least 3) are cut from the graph and components computed again; cut keys and what is still over the cap
are reported (marts.identity_oversized_components) under a keyed hash, never in clear.

Person ids and key tokens are keyed hashes (HMAC-SHA-256 shape, truncated) under the pseudonym key of
ingestion.pseudonym (`JW_PSEUDONYM_KEY`, the file named by `JW_PSEUDONYM_KEY_FILE`, or `pseudonym.key` generated
once next to the warehouse file). It is read here at run time and never written into compiled SQL.
"""

from datetime import datetime, timezone


def pseudonym_key(session) -> str:
    """The pseudonym key (ingestion.pseudonym.key), its file next to this session's warehouse when no variable names it."""
    from ingestion import pseudonym

    (warehouse,) = _one(session, "select path from duckdb_databases() where database_name = current_database()")
    return pseudonym.key(warehouse or ":memory:").decode("utf-8")


def _run(session, sql: str) -> list[tuple]:
    """Execute and fetch everything (DuckDB refuses new work on a connection with an unfinished result)."""
    return session.execute(sql).fetchall()


def _one(session, sql: str) -> tuple:
    return _run(session, sql)[0]


def keyed_hash_sql(key: str, expression: str) -> str:
    """SQL for the first 16 hex digits of sha256(outer || sha256(inner || value)): an HMAC-shaped keyed hash."""
    inner, outer = key + ":inner:", key + ":outer:"
    quote = lambda s: "'" + s.replace("'", "''") + "'"  # noqa: E731
    return f"substr(sha256({quote(outer)} || sha256({quote(inner)} || {expression})), 1, 16)"


def label_components(session, max_rounds: int) -> int:
    """Labels cc_label(id, label) over cc_edges(a, b) to each component's smallest id; returns the rounds used."""
    _run(session, "create or replace temp table cc_label as select id, id as label from cc_nodes")
    for round_ in range(1, max_rounds + 1):
        _run(
            session,
            """
            create or replace temp table cc_next as
            with propagated as (
                select cc_edges.a as id, min(cc_label.label) as label
                from cc_edges inner join cc_label on cc_label.id = cc_edges.b
                group by cc_edges.a
            ),
            relabelled as (
                select cc_label.id, least(cc_label.label, coalesce(propagated.label, cc_label.label)) as label, cc_label.label as was
                from cc_label left join propagated on propagated.id = cc_label.id
            ),
            hooked as (
                select was as id, min(label) as label from relabelled group by was
            )
            select relabelled.id, least(relabelled.label, coalesce(hooked.label, relabelled.label)) as label
            from relabelled left join hooked on hooked.id = relabelled.id
            """
        )
        while True:  # pointer jumping
            _run(
                session,
                """
                create or replace temp table cc_jumped as
                select child.id, parent.label from cc_next as child inner join cc_next as parent on parent.id = child.label
                """
            )
            (moved,) = _one(
                session,
                "select count(*) from cc_jumped inner join cc_next using (id) where cc_jumped.label <> cc_next.label"
            )
            _run(session, "create or replace temp table cc_next as select * from cc_jumped")
            if not moved:
                break
        (changed,) = _one(
            session,
            "select count(*) from cc_next inner join cc_label using (id) where cc_next.label <> cc_label.label"
        )
        _run(session, "create or replace temp table cc_label as select * from cc_next")
        if not changed:
            return round_
    raise RuntimeError(f"identity components did not converge in {max_rounds} rounds")


def model(dbt, session):
    dbt.config(materialized="table")
    max_size = int(dbt.config.get("max_component_size"))
    max_rounds = int(dbt.config.get("max_iterations"))
    edges = dbt.ref("int_identity__edges").sql_query()
    records = dbt.ref("int_identity__records").sql_query()
    key = pseudonym_key(session)

    # integer ids: records first in node order, so the smallest id of a component is its smallest record
    _run(
        session,
        f"""
        create or replace temp table cc_nodes as
        with records as (select distinct node from ({records})),
        endpoints as (
            select node from ({edges}) union select linked_node from ({edges})
        ),
        nodes as (
            select node, true as is_record from records
            union all
            select node, false from endpoints where node not in (select node from records)
        )
        select row_number() over (order by not is_record, node) as id, node, is_record from nodes
        """
    )
    _run(
        session,
        f"""
        create or replace temp table cc_all_edges as
        select distinct a.id as a, b.id as b
        from ({edges}) as e
        inner join cc_nodes as a on a.node = e.node
        inner join cc_nodes as b on b.node = e.linked_node
        where a.id <> b.id
        """
    )
    # a key is a node that is no record; its size is the number of records it carries
    _run(
        session,
        """
        create or replace temp table cc_keys as
        with ends as (select a as id, b as other from cc_all_edges union all select b, a from cc_all_edges)
        select cc_nodes.id, count(distinct ends.other) as key_records, false as cut, cast(null as bigint) as cut_from_records
        from cc_nodes
        inner join ends on ends.id = cc_nodes.id
        inner join cc_nodes as other on other.id = ends.other and other.is_record
        where not cc_nodes.is_record
        group by cc_nodes.id
        """
    )
    rounds = 0
    for _ in range(max_rounds):
        _run(
            session,
            """
            create or replace temp table cc_edges as
            select a, b from cc_all_edges
            where a not in (select id from cc_keys where cut) and b not in (select id from cc_keys where cut)
            union
            select b, a from cc_all_edges
            where a not in (select id from cc_keys where cut) and b not in (select id from cc_keys where cut)
            """
        )
        rounds += label_components(session, max_rounds)
        _run(
            session,
            """
            create or replace temp table cc_sizes as
            select cc_label.label, count(*) filter (where cc_nodes.is_record) as records
            from cc_label inner join cc_nodes using (id) group by cc_label.label
            """
        )
        # in each component over the cap: the keys carrying the most records (3 or more) go
        _run(
            session,
            f"""
            create or replace temp table cc_cut_now as
            select id, records from (
                select cc_keys.id, cc_keys.key_records, cc_sizes.records,
                    max(cc_keys.key_records) over (partition by cc_label.label) as most
                from cc_keys
                inner join cc_label using (id)
                inner join cc_sizes using (label)
                where not cc_keys.cut and cc_sizes.records > {max_size} and cc_keys.key_records >= 3
            ) where key_records = most
            """
        )
        (cuts,) = _one(session, "select count(*) from cc_cut_now")
        if not cuts:
            break
        _run(
            session,
            "update cc_keys set cut = true, cut_from_records = cc_cut_now.records from cc_cut_now where cc_keys.id = cc_cut_now.id"
        )

    salt = datetime.now(timezone.utc).isoformat()
    return session.sql(
        f"""
        select
            cc_nodes.node,
            cc_nodes.is_record,
            component.node as component,
            cc_sizes.records as component_records,
            'person_' || {keyed_hash_sql(key, "component.node")} as fresh_person_id,
            'person_' || {keyed_hash_sql(key, "component.node || '|' || '" + salt + "'")} as salted_person_id,
            case when not cc_nodes.is_record then split_part(cc_nodes.node, ':', 1) end as key_type,
            case when not cc_nodes.is_record then {keyed_hash_sql(key, "cc_nodes.node")} end as key_token,
            cc_keys.key_records,
            coalesce(cc_keys.cut, false) as cut_by_size_cap,
            cc_keys.cut_from_records,
            {rounds} as rounds
        from cc_nodes
        inner join cc_label using (id)
        inner join cc_nodes as component on component.id = cc_label.label
        inner join cc_sizes on cc_sizes.label = cc_label.label
        left join cc_keys on cc_keys.id = cc_nodes.id
        """
    )
