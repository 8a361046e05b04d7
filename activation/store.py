"""The activation store: ``inbox.*`` (webhooks as received) and ``exports.*`` (outbox, deliveries, suppressions).

SQLite by default: three files in ``$JW_DATA_DIR/activation/`` (``activation.sqlite`` with ``inbox.sqlite`` and
``exports.sqlite`` attached under those names, so every table is addressed ``<schema>.<table>`` as in
PostgreSQL), WAL mode and a busy timeout so the receiver, the sensor's runs and the delivery worker write
side by side. PostgreSQL when ``JW_ACTIVATION_DB_URL`` is set: schemas ``inbox`` and ``exports``.

Idempotency is the tables' job, not the callers': ``inbox.webhook_events.webhook_id`` and
``exports.outbox.idempotency_key`` are unique, and inserts that collide do nothing.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa

from ingestion.config import activation_db_url, activation_dir

SCHEMAS = ("inbox", "exports")
metadata = sa.MetaData()
UTC = timezone.utc


class UtcDateTime(sa.types.TypeDecorator):
    """A timezone-aware UTC timestamp in both dialects (SQLite keeps ISO text, PostgreSQL timestamptz)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: activation timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),  # the sensor's cursor
    sa.Column("webhook_id", sa.Text, nullable=False, unique=True),  # X-Shopify-Webhook-Id: a replay collides here
    sa.Column("source", sa.Text, nullable=False),  # shop | esp
    sa.Column("topic", sa.Text, nullable=False),  # checkouts/update, orders/create, ...
    sa.Column("subject_id", sa.Text),  # the checkout token (or order's checkout token, profile id for the ESP)
    sa.Column("customer_ref", sa.Text),  # the source system's customer id (shop customer, ESP profile)
    sa.Column("triggered_at", UtcDateTime),  # when the sender says the event happened
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the verified body, as JSON text
    schema="inbox",
)

rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column("rejection_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("status", sa.Integer, nullable=False),  # the HTTP status answered
    sa.Column("reason", sa.Text, nullable=False),  # bad_signature | replayed | stale | malformed | ...; never the body
    schema="inbox",
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("message_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("destination", sa.Text, nullable=False),  # esp | ad_audience | webhook
    sa.Column("kind", sa.Text, nullable=False),  # cart_abandonment | campaign | audience
    sa.Column("campaign_id", sa.Text),
    sa.Column("person_id", sa.Text),
    sa.Column("batch_id", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON; never clear PII (ESP profile ids, hashes)
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("trigger_received_at", UtcDateTime),  # the webhook's received_at, for end-to-end latency
    # Written held (NULL); set when the batch passed its blocking validation. The delivery worker sends only
    # released messages, so a batch that fails its check never leaves.
    sa.Column("released_at", UtcDateTime),
    # The delivery worker's bookkeeping (activation.delivery): a claim is a lease (claimed_by until claimed_until),
    # so a worker killed mid-batch leaves its messages to the next one once the lease runs out; a retryable failure
    # waits for next_attempt_at; outcome (delivered | suppressed | failed) with settled_at ends a message's life.
    sa.Column("claimed_by", sa.Text),
    sa.Column("claimed_until", UtcDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("outcome", sa.Text),
    sa.Column("settled_at", UtcDateTime),
    sa.Column("delivered_at", UtcDateTime),
    schema="exports",
)
sa.Index("ix_outbox_pending", outbox.c.outcome, outbox.c.released_at, outbox.c.next_attempt_at)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("delivery_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.Text, nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # delivered | failed | suppressed
    sa.Column("status_code", sa.Integer),
    sa.Column("detail", sa.Text),  # a reason, never PII
    sa.Column("attempted_at", UtcDateTime, nullable=False),
    schema="exports",
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("person_id", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text, primary_key=True),  # email_marketing | ad_audience | all (erasure)
    sa.Column("reason", sa.Text, nullable=False),  # unsubscribed | erased | ...
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    schema="exports",
)


def now() -> datetime:
    return datetime.now(UTC)


def _sqlite_engine(folder: Path) -> sa.Engine:
    folder.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{folder / 'activation.sqlite'}", connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _attach(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN be the only one
        cursor = dbapi_connection.cursor()
        cursor.execute("pragma busy_timeout = 30000")
        cursor.execute("pragma journal_mode = wal")
        for schema in SCHEMAS:
            cursor.execute(f"attach database ? as {schema}", (str(folder / f"{schema}.sqlite"),))
            cursor.execute(f"pragma {schema}.journal_mode = wal")
            cursor.execute(f"pragma {schema}.synchronous = full")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("begin immediate")  # take the write lock up front: no upgrade deadlocks

    return engine


_engines: dict[str, sa.Engine] = {}


def engine(url: str | None = None) -> sa.Engine:
    """The store's engine (created once per URL or folder per process), with its tables created."""
    url = url or activation_db_url()
    key = url or str(activation_dir())
    if key not in _engines:
        if url:
            eng = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1), pool_pre_ping=True)
            with eng.begin() as conn:
                for schema in SCHEMAS:
                    conn.exec_driver_sql(f"create schema if not exists {schema}")
        else:
            eng = _sqlite_engine(activation_dir())
        metadata.create_all(eng)
        _add_missing_columns(eng)
        _engines[key] = eng
    return _engines[key]


def dispose() -> None:
    """Forget every engine (tests switch data folders)."""
    for eng in _engines.values():
        eng.dispose()
    _engines.clear()


def _insert_ignoring(conn: sa.Connection, table: sa.Table, rows: list[dict], key: str) -> int:
    """Insert ``rows``, skipping those whose unique ``key`` exists; returns how many were new."""
    if not rows:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    result = conn.execute(insert(table).on_conflict_do_nothing(index_elements=[key]), rows)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


def append_webhook(event: dict[str, Any], url: str | None = None) -> bool:
    """Append one verified webhook (columns of ``inbox.webhook_events``, ``payload`` a dict or JSON text).
    False when its ``webhook_id`` is already in the inbox (a replay): nothing is written."""
    row = dict(event)
    if not isinstance(row.get("payload"), str):
        row["payload"] = json.dumps(row["payload"], separators=(",", ":"), default=str)
    row.setdefault("received_at", now())
    with engine(url).begin() as conn:
        return _insert_ignoring(conn, webhook_events, [row], "webhook_id") == 1


def record_rejection(status: int, reason: str, source: str | None = None, url: str | None = None) -> None:
    with engine(url).begin() as conn:
        conn.execute(rejections.insert().values(received_at=now(), source=source, status=status, reason=reason))


def webhooks_after(cursor: int, limit: int = 1000, url: str | None = None) -> list[dict]:
    """Inbox rows with ``event_id > cursor``, oldest first, payload decoded."""
    query = sa.select(webhook_events).where(webhook_events.c.event_id > cursor).order_by(webhook_events.c.event_id)
    with engine(url).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query.limit(limit))]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


def enqueue(messages: Iterable[dict[str, Any]], url: str | None = None) -> int:
    """Write messages to ``exports.outbox`` (columns of the table; ``payload`` a dict). A message whose
    idempotency key is already there is skipped. Returns how many were new."""
    rows = []
    created = now()
    for message in messages:
        row = dict(message)
        if not isinstance(row.get("payload"), str):
            row["payload"] = json.dumps(row["payload"], separators=(",", ":"), sort_keys=True, default=str)
        row.setdefault("created_at", created)
        rows.append(row)
    with engine(url).begin() as conn:
        return _insert_ignoring(conn, outbox, rows, "idempotency_key")


def suppress(person_id: str, purpose: str, reason: str, url: str | None = None) -> None:
    """Record that ``person_id`` must get nothing more for ``purpose`` (``all`` for an erasure)."""
    with engine(url).begin() as conn:
        exists = conn.execute(
            sa.select(suppressions.c.person_id).where(
                suppressions.c.person_id == person_id, suppressions.c.purpose == purpose
            )
        ).first()
        if not exists:
            conn.execute(suppressions.insert().values(person_id=person_id, purpose=purpose, reason=reason, recorded_at=now()))


def suppressed(person_ids: Iterable[str], purpose: str, url: str | None = None) -> set[str]:
    """Which of ``person_ids`` are suppressed for ``purpose`` (or for everything)."""
    ids = list(set(person_ids))
    if not ids:
        return set()
    query = sa.select(suppressions.c.person_id).where(
        suppressions.c.person_id.in_(ids), suppressions.c.purpose.in_([purpose, "all"])
    )
    with engine(url).connect() as conn:
        return {r[0] for r in conn.execute(query)}


def release(batch_id: str, url: str | None = None) -> int:
    """Mark every held message of ``batch_id`` released (validated: the delivery worker may send it)."""
    with engine(url).begin() as conn:
        result = conn.execute(
            outbox.update().where(outbox.c.batch_id == batch_id, outbox.c.released_at.is_(None)).values(released_at=now())
        )
        return result.rowcount


def batch(batch_id: str, url: str | None = None) -> list[dict]:
    """The messages of one outbox batch (payload decoded), in message order."""
    query = sa.select(outbox).where(outbox.c.batch_id == batch_id).order_by(outbox.c.message_id)
    with engine(url).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


# --- appended for the real-time offers (H3) ------------------------------------------------------------------


def webhooks_for_subjects(subject_ids: Iterable[str], source: str = "shop", url: str | None = None) -> list[dict]:
    """Every inbox row of ``source`` about one of ``subject_ids`` (checkout tokens), oldest first, payload
    decoded: a cart-abandonment run re-reads its checkouts' whole story here (an order may have come since the
    sensor looked)."""
    ids = sorted(set(subject_ids))
    if not ids:
        return []
    query = (
        sa.select(webhook_events)
        .where(webhook_events.c.source == source, webhook_events.c.subject_id.in_(ids))
        .order_by(webhook_events.c.event_id)
    )
    with engine(url).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


# --- delivery (activation.delivery) ----------------------------------------------------------------------------


def _add_missing_columns(eng: sa.Engine) -> None:
    """Columns appended to a table after a store was created (the delivery worker's) are added to it: a store
    written by an older checkout keeps working."""
    inspector = sa.inspect(eng)
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
        missing = [c for c in table.columns if c.name not in present]
        if not missing:
            continue
        with eng.begin() as conn:
            for column in missing:
                kind = column.type.compile(dialect=conn.dialect)
                default = f" not null default {column.server_default.arg}" if column.server_default is not None else ""
                conn.exec_driver_sql(f"alter table {table.schema}.{table.name} add column {column.name} {kind}{default}")


def claim(worker: str, limit: int, lease_seconds: float, destinations: Iterable[str] | None = None,
          url: str | None = None) -> list[dict]:  # fmt: skip
    """Claim up to ``limit`` released, unsettled messages that are due (``next_attempt_at`` passed) and not
    claimed by a live lease, for ``worker`` until now + ``lease_seconds``; returns them (payload decoded), oldest
    first. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` (workers claim side by side, never the same row); SQLite:
    the write lock the engine's ``BEGIN IMMEDIATE`` takes serialises claims."""
    at = now()
    due = sa.and_(
        outbox.c.released_at.is_not(None),
        outbox.c.outcome.is_(None),
        sa.or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= at),
        sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < at),
    )
    if destinations is not None:
        due = sa.and_(due, outbox.c.destination.in_(list(destinations)))
    with engine(url).begin() as conn:
        query = sa.select(outbox.c.message_id).where(due).order_by(outbox.c.message_id).limit(limit)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = [r[0] for r in conn.execute(query)]
        if not ids:
            return []
        conn.execute(
            outbox.update().where(outbox.c.message_id.in_(ids), due)
            .values(claimed_by=worker, claimed_until=at + timedelta(seconds=lease_seconds))
        )  # fmt: skip
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(outbox).where(outbox.c.message_id.in_(ids), outbox.c.claimed_by == worker).order_by(outbox.c.message_id))]  # fmt: skip
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    return rows


def messages_since(person_ids: Iterable[str], since: datetime, url: str | None = None) -> dict[str, int]:
    """Outbox messages per person created at or after ``since`` (any kind, held or released): what a frequency
    cap counts."""
    ids = list(set(person_ids))
    if not ids:
        return {}
    query = (
        sa.select(outbox.c.person_id, sa.func.count())
        .where(outbox.c.person_id.in_(ids), outbox.c.created_at >= since)
        .group_by(outbox.c.person_id)
    )
    with engine(url).connect() as conn:
        return {person: count for person, count in conn.execute(query)}


def renew(worker: str, message_ids: Iterable[int], lease_seconds: float, url: str | None = None) -> int:
    """Extend ``worker``'s lease on those of ``message_ids`` it still holds (a long batch keeps its claim)."""
    ids = list(message_ids)
    if not ids:
        return 0
    with engine(url).begin() as conn:
        return conn.execute(
            outbox.update().where(outbox.c.message_id.in_(ids), outbox.c.claimed_by == worker, outbox.c.outcome.is_(None))
            .values(claimed_until=now() + timedelta(seconds=lease_seconds))
        ).rowcount  # fmt: skip


def record_attempt(message: dict, status: str, status_code: int | None, detail: str, *, outcome: str | None,
                   next_attempt_at: datetime | None = None, count_attempt: bool = True,
                   url: str | None = None) -> int:  # fmt: skip
    """One attempt at ``message``: a row of ``exports.deliveries`` and, in the same transaction, the outbox row
    settled (``outcome`` delivered | suppressed | failed) or left for ``next_attempt_at`` (``outcome`` None);
    the claim is let go either way. Returns the attempt's number."""
    at = now()
    attempt = int(message.get("attempts") or 0) + (1 if count_attempt else 0)
    values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "attempts": attempt}
    if outcome:
        values.update(outcome=outcome, settled_at=at, next_attempt_at=None)
        if outcome == "delivered":
            values["delivered_at"] = at
    else:
        values["next_attempt_at"] = next_attempt_at
    with engine(url).begin() as conn:
        conn.execute(deliveries.insert().values(
            idempotency_key=message["idempotency_key"], attempt=attempt, status=status, status_code=status_code,
            detail=detail, attempted_at=at))  # fmt: skip
        conn.execute(outbox.update().where(outbox.c.message_id == message["message_id"], outbox.c.outcome.is_(None)).values(**values))
    return attempt


def deliveries_of(idempotency_key: str | None = None, url: str | None = None) -> list[dict]:
    """Attempts recorded in ``exports.deliveries`` (of one key, or all), in order."""
    query = sa.select(deliveries).order_by(deliveries.c.delivery_id)
    if idempotency_key is not None:
        query = query.where(deliveries.c.idempotency_key == idempotency_key)
    with engine(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def unsubscribes(profile_ids: Iterable[str], url: str | None = None) -> dict[str, datetime]:
    """The latest ``profile.unsubscribed`` webhook received per ESP profile id (``customer_ref`` or
    ``subject_id`` of the inbox row)."""
    ids = list(set(p for p in profile_ids if p))
    if not ids:
        return {}
    found: dict[str, datetime] = {}
    query = sa.select(webhook_events.c.customer_ref, webhook_events.c.subject_id, webhook_events.c.received_at).where(
        webhook_events.c.topic == "profile.unsubscribed",
        sa.or_(webhook_events.c.customer_ref.in_(ids), webhook_events.c.subject_id.in_(ids)),
    )
    with engine(url).connect() as conn:
        for customer_ref, subject_id, received_at in conn.execute(query):
            for profile in {customer_ref, subject_id} & set(ids):
                found[profile] = max(found.get(profile, received_at), received_at)
    return found


def forget_person(person_ids: Iterable[str], customer_refs: Iterable[str], needles: Iterable[str] = (),
                  url: str | None = None) -> dict[str, int]:  # fmt: skip
    """An erasure (``journey forget``): each person suppressed for everything (``all``/``erased``), their
    undelivered outbox messages deleted, and the inbox's webhooks of their source ids (shop customer, ESP
    profile: ``customer_ref`` or ``subject_id``) or whose body holds one of ``needles`` (e-mail addresses)
    deleted. In SQLite the files are vacuumed and their WAL truncated so the deleted bytes are gone too."""
    ids, refs = sorted(set(person_ids)), sorted({str(r) for r in customer_refs if r})
    for person_id in ids:
        suppress(person_id, "all", "erased", url=url)
    removed = {"exports.outbox": 0, "inbox.webhook_events": 0}
    eng = engine(url)
    with eng.begin() as conn:
        if ids:
            removed["exports.outbox"] = conn.execute(
                outbox.delete().where(outbox.c.person_id.in_(ids), outbox.c.outcome.is_distinct_from("delivered"))
            ).rowcount
        conditions = [webhook_events.c.customer_ref.in_(refs), webhook_events.c.subject_id.in_(refs)] if refs else []
        conditions += [sa.func.lower(webhook_events.c.payload).contains(n.lower(), autoescape=True) for n in needles if n]
        if conditions:
            removed["inbox.webhook_events"] = conn.execute(webhook_events.delete().where(sa.or_(*conditions))).rowcount
    if eng.dialect.name == "sqlite" and any(removed.values()):
        raw = eng.raw_connection()
        try:
            cursor = raw.cursor()
            for schema in SCHEMAS:
                cursor.execute(f"vacuum {schema}")
                cursor.execute(f"pragma {schema}.wal_checkpoint(truncate)")
            cursor.close()
        finally:
            raw.close()
    return removed
