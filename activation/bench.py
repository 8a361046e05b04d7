"""``journey bench activation``: the real-time cart-abandonment path end to end on this machine, timed.

What runs, each as its own process as in production (logs in ``<data dir>/bench/activation-<time>/``):

1. a data folder with a built warehouse and its serving copy: ``$JW_DATA_DIR`` when its serving copy has the
   activation marts (``marts.person_source_ids``), else ``journey demo`` (or ``journey run`` on a world that is
   there) builds it;
2. the demo source systems (``journey world serve``: the shop, and the ESP whose send API keeps receipts);
3. the webhook receiver (``journey webhooks``);
4. the Dagster daemon (``dagster-daemon run``, ``DAGSTER_HOME`` of that folder) running ``cart_abandonment_sensor``
   with ``JW_ABANDON_QUIET_SECONDS`` = ``--quiet-seconds``;
5. the delivery worker (``journey deliver --follow``) sending to the demo ESP.

The bench then sends N signed ``checkouts/update`` webhooks, one every ``--interval`` seconds, for shop customers
with e-mail consent and an ESP profile (read from the serving copy), plus ``--unconsented`` ones for customers
without consent, and polls the ESP's receipts (``GET /esp/api/messages/?idempotency_key=cart_abandonment:<token>``)
until every expected message is there or ``--timeout`` passes. Latency = the receipt's ``received_at`` (ESP
clock) minus the inbox row's ``received_at`` (receiver clock): same machine, same clock. It includes the quiet
period, which is a business rule and not processing time; both figures are printed.

Expected: a message for every consented customer outside the campaign's holdout (``activation.holdout``), none
for those held out or without consent. A message for either is a violation and is reported as such. A checkout
for which the offer picker finds nothing to offer would also go without a message: it shows as missing.

This is a measurement, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

CAMPAIGN_ID = "cart_abandonment"
PORTS = (3280, 3299)  # where the bench looks for free ports first (falls back to any)


@dataclass
class Abandonment:
    token: str
    person_id: str
    shop_customer_id: str
    esp_profile_id: str | None
    consented: bool
    held_out: bool
    sent_at: float = 0.0  # wall clock (time.time())
    status: int | None = None
    received_at: datetime | None = None  # the inbox row's
    delivered_at: datetime | None = None  # the ESP receipt's
    queued_at: datetime | None = None  # the outbox row's created_at (the sensor's run wrote it)
    released_at: datetime | None = None  # the outbox row's released_at (its batch passed validation)
    run_created_at: datetime | None = None  # the sensor's run request for it (Dagster run record)
    run_started_at: datetime | None = None  # that run's process started
    settled: str | None = None  # the delivery worker's last word on it when not delivered (status: detail)

    @property
    def expected(self) -> bool:
        return self.consented and not self.held_out and self.esp_profile_id is not None

    @property
    def latency(self) -> float | None:
        if self.received_at and self.delivered_at:
            return (self.delivered_at - self.received_at).total_seconds()
        return None


@dataclass
class Report:
    data_dir: str
    abandonments: int
    unconsented: int
    quiet_seconds: float
    sent: int = 0
    accepted: int = 0
    expected: int = 0
    arrived: int = 0
    held_out: int = 0
    held_out_arrived: int = 0
    not_consented: int = 0
    not_consented_arrived: int = 0
    missing: list[str] = field(default_factory=list)  # tokens expected but not delivered in time
    settled_without_send: dict[str, int] = field(default_factory=dict)  # expected, yet settled unsent: why
    planning_skipped: dict[str, int] = field(default_factory=dict)  # the batch asset's skip reasons, summed
    latencies: list[float] = field(default_factory=list)
    run_requested: list[float] = field(default_factory=list)  # received -> the sensor's run request
    run_started: list[float] = field(default_factory=list)  # received -> that run's process started
    queued: list[float] = field(default_factory=list)  # received -> outbox row written
    released: list[float] = field(default_factory=list)  # received -> outbox row released
    delivery_worker: bool = True
    waited_seconds: float = 0.0
    logs: str = ""

    def percentile(self, p: float, values: list[float] | None = None) -> float | None:
        values = sorted(self.latencies if values is None else values)
        if not values:
            return None
        rank = p * (len(values) - 1)
        low = int(rank)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (rank - low)

    def lines(self) -> list[str]:
        def fmt(value):
            return "-" if value is None else f"{value:.1f} s"

        p50, p95 = self.percentile(0.5), self.percentile(0.95)
        out = [
            f"sent {self.sent} checkouts/update webhooks ({self.accepted} accepted by the receiver); "
            f"waited {self.waited_seconds:.0f} s for the messages",
            f"arrived at the ESP: {self.arrived} of {self.expected} expected; held out {self.held_out} "
            f"(arrived {self.held_out_arrived}); not consented {self.not_consented} (arrived {self.not_consented_arrived})"
            + (f"; settled unsent by the worker {self.settled_without_send}" if self.settled_without_send else "")
            + (f"; MISSING {len(self.missing)}" if self.missing else ""),
            f"latency webhook received -> ESP receipt (n={len(self.latencies)}): p50 {fmt(p50)}, p95 {fmt(p95)}, "
            f"max {fmt(max(self.latencies) if self.latencies else None)}",
            f"  of which the quiet period {self.quiet_seconds:g} s; after it: p50 "
            f"{fmt(p50 - self.quiet_seconds if p50 is not None else None)}, p95 "
            f"{fmt(p95 - self.quiet_seconds if p95 is not None else None)}",
        ]
        stages = (("run requested by the sensor", self.run_requested), ("run process started", self.run_started),
                  ("written to the outbox", self.queued), ("released by the validated batch", self.released))  # fmt: skip
        for label, values in stages:
            if values:
                out.append(f"  stage: received -> {label} (n={len(values)}): p50 {fmt(self.percentile(0.5, values))}, "
                           f"p95 {fmt(self.percentile(0.95, values))}, max {fmt(max(values))}")
        if self.planning_skipped:
            out.append(f"  the sensor's runs skipped (batch metadata, all checkouts): {self.planning_skipped}")
        if not self.delivery_worker:
            out.append("  no delivery worker in this checkout (journey deliver): nothing could reach the ESP")
        if self.held_out_arrived or self.not_consented_arrived:
            out.append("VIOLATION: a held-out or unconsented customer got a message")
        return out


def _free_port(preferred: tuple[int, int] = PORTS, taken: set[int] | None = None) -> int:
    taken = taken if taken is not None else set()
    for port in list(range(preferred[0], preferred[1] + 1)) + [0]:
        if port in taken:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            chosen = sock.getsockname()[1]
            taken.add(chosen)
            return chosen
    raise RuntimeError("no free port")


class Processes:
    """Child processes of the bench, each in its own session, stopped (by their own pid) at the end."""

    def __init__(self, log_dir: Path, env: dict[str, str], cwd: Path):
        self.log_dir, self.env, self.cwd = log_dir, env, cwd
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")
        process = subprocess.Popen(args, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
        self.children.append((name, process))
        return process

    def check(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}: see {self.log_dir / (name + '.log')}")

    def stop(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # its own session: the daemon's run subprocesses too
        deadline = time.monotonic() + 30
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_http(url: str, processes: Processes, timeout: float = 120, headers: dict | None = None) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        processes.check()
        try:
            if requests.get(url, timeout=2, headers=headers or {}).status_code < 500:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.3)


def _wait_log(path: Path, text: str, processes: Processes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in (path.read_text(errors="replace") if path.exists() else ""):
        processes.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{text!r} not in {path} within {timeout:.0f} s: is the sensor defined and running?")
        time.sleep(0.5)


def _relations(con) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute("select table_schema, table_name from information_schema.tables").fetchall()}


def serving_ready(serving: Path) -> bool:
    import duckdb

    if not serving.exists():
        return False
    with duckdb.connect(str(serving), read_only=True) as con:
        return {"marts.customer_360", "marts.person_source_ids"} <= _relations(con)


def _recently_messaged(days: int = 7) -> set[str]:
    from datetime import timedelta

    import sqlalchemy as sa

    from activation import store

    table = store.outbox
    since = datetime.now(timezone.utc) - timedelta(days=days)
    with store.engine().connect() as conn:
        return {r[0] for r in conn.execute(sa.select(table.c.person_id).where(table.c.created_at >= since).distinct())}


def pick_customers(serving: Path, n: int, unconsented: int, seed: int, holdout_share: float) -> list[Abandonment]:
    """N shop customers with e-mail consent and an ESP profile, and ``unconsented`` without consent, drawn with
    ``seed`` from the serving copy (one shop customer id per person). People the outbox has a message for in the
    last 7 days are left out: the frequency cap would rightly stop theirs (a bench run again on the same folder)."""
    import duckdb

    with duckdb.connect(str(serving), read_only=True) as con:
        rows = con.execute(
            """
            select c.person_id, min(s.source_id) as shop_customer_id, min(e.source_id) as esp_profile_id,
                   bool_or(c.consent_email_marketing) as consented
            from marts.customer_360 as c
            inner join marts.person_source_ids as s on s.person_id = c.person_id and s.id_type = 'shop_customer'
            left join marts.person_source_ids as e on e.person_id = c.person_id and e.id_type = 'esp_profile'
            group by c.person_id
            order by c.person_id
            """
        ).fetchall()
    recent = _recently_messaged()
    rng = random.Random(seed)
    with_consent = [r for r in rows if r[3] and r[2] is not None and r[0] not in recent]
    without = [r for r in rows if not r[3]]
    if len(with_consent) < n or len(without) < unconsented:
        raise RuntimeError(f"the serving copy has {len(with_consent)} consented and {len(without)} unconsented "
                           f"shop customers with an ESP profile: fewer than asked")  # fmt: skip
    from activation.holdout import in_holdout

    picked = rng.sample(with_consent, n) + rng.sample(without, unconsented)
    rng.shuffle(picked)
    return [
        Abandonment(token=f"bench{uuid.uuid4().hex}", person_id=p, shop_customer_id=str(shop), esp_profile_id=esp,
                    consented=bool(ok), held_out=in_holdout(p, CAMPAIGN_ID, holdout_share))  # fmt: skip
        for p, shop, esp, ok in picked
    ]


def catalogue(serving: Path) -> list[tuple[int | str, float]]:
    """(product id, price) of products in stock: ``marts.product_catalog`` when the serving copy has it, else the
    demo world's numbering (``prod-001``..``prod-060``) at made-up prices."""
    import duckdb

    with duckdb.connect(str(serving), read_only=True) as con:
        if "marts.product_catalog" in _relations(con):
            rows = con.execute("select product_id, price from marts.product_catalog where in_stock order by product_id").fetchall()
            if rows:
                return [(p, float(price or 10)) for p, price in rows]
    rng = random.Random(0)
    return [(f"prod-{n:03d}", round(rng.uniform(9, 240), 2)) for n in range(1, 61)]


def holdout_share() -> float:
    try:
        from activation.definitions import campaigns

        return float(campaigns()[CAMPAIGN_ID].get("holdout_share", 0.10))
    except Exception:  # noqa: BLE001 - H4's definitions not in this checkout: the documented default
        from activation.holdout import DEFAULT_HOLDOUT_SHARE

        return DEFAULT_HOLDOUT_SHARE


def _build(data_dir: Path, processes_env: dict, cwd: Path, log_dir: Path, echo: Callable[[str], None],
           people: int, days: int) -> None:  # fmt: skip
    from ingestion import config

    # a world written before the shop had a product catalogue (products.json) cannot feed the activation marts
    world = (config.source_systems_dir() / "api" / "shop" / "products.json").is_file()
    command = ["run"] if world and config.warehouse_path().exists() else ["demo", "--people", str(people), "--days", str(days)]
    echo(f"building the warehouse and its serving copy: journey {' '.join(command)} (log {log_dir / 'build.log'})")
    with open(log_dir / "build.log", "w") as log:
        done = subprocess.run([sys.executable, "-m", "orchestration.cli", *command], cwd=cwd, env=processes_env,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    if done.returncode != 0:
        echo(f"  journey {command[0]} exited {done.returncode} (a failing check?); carrying on if the serving copy is there")


def _settled(picked: list[Abandonment], statuses: tuple[str, ...] = ("suppressed", "failed")) -> None:
    """For messages that never reached the ESP: the delivery worker's last attempt (``suppressed: <reason>``),
    e.g. an unsubscribe the ESP knows and the serving copy does not yet."""
    import sqlalchemy as sa

    from activation import store

    table = store.deliveries
    keys = {f"{CAMPAIGN_ID}:{i.token}": i for i in picked if i.delivered_at is None}
    if not keys:
        return
    with store.engine().connect() as conn:
        rows = conn.execute(
            sa.select(table.c.idempotency_key, table.c.status, table.c.detail)
            .where(table.c.idempotency_key.in_(list(keys)), table.c.status.in_(statuses))
            .order_by(table.c.delivery_id)
        ).all()  # fmt: skip
    for key, status, detail in rows:
        keys[key].settled = f"{status}: {detail}" if detail else status


def _run_times(picked: list[Abandonment], since: datetime) -> dict[str, int]:
    """When the sensor asked for each checkout's run and when that run's process started (Dagster's run records;
    the run config names the checkouts); returns the skip reasons the runs' batches recorded, summed."""
    try:
        import dagster as dg

        from ingestion.config import dagster_home

        instance = dg.DagsterInstance.from_config(str(dagster_home()))
    except Exception:  # noqa: BLE001 - no Dagster instance to read: the stages stay unknown
        return {}
    by_token = {i.token: i for i in picked}
    skipped: dict[str, int] = {}
    try:
        records = instance.get_run_records(dg.RunsFilter(job_name="cart_abandonment_job", created_after=since))
        for record in records:
            config = (record.dagster_run.run_config or {}).get("ops", {})
            tokens = next(iter(config.values()), {}).get("config", {}).get("checkout_tokens", []) if config else []
            started = datetime.fromtimestamp(record.start_time, timezone.utc) if record.start_time else None
            for token in tokens:
                if token in by_token:
                    by_token[token].run_created_at = record.create_timestamp.astimezone(timezone.utc)
                    by_token[token].run_started_at = started
        events = instance.fetch_materializations(dg.AssetKey(["exports", "cart_abandonment_batch"]), limit=1000).records
        for event in events:
            if event.timestamp < since.timestamp():
                continue
            metadata = event.asset_materialization.metadata if event.asset_materialization else {}
            for key, value in metadata.items():
                if key.startswith("skipped/"):
                    skipped[key.removeprefix("skipped/")] = skipped.get(key.removeprefix("skipped/"), 0) + int(value.value)
    except Exception:  # noqa: BLE001 - a Dagster API that moved: the stages stay unknown, the figures stand
        pass
    finally:
        instance.dispose()
    return skipped


def run_bench(
    abandonments: int = 20,
    quiet_seconds: float = 5.0,
    unconsented: int = 2,
    interval: float = 1.0,
    timeout: float | None = None,
    seed: int = 1,
    people: int = 600,
    days: int = 30,
    echo: Callable[[str], None] = print,
) -> Report:
    import requests

    from activation import store
    from activation.webhooks import describe_store
    from ingestion import config
    from ingestion.demo_world import webhooks as sender
    from ingestion.demo_world.api_server import DEMO_TOKENS

    data_dir = config.data_dir()
    started = datetime.now(timezone.utc)
    log_dir = data_dir / "bench" / f"activation-{started:%Y%m%dT%H%M%S}"
    log_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "JW_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(config.dagster_home()),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(config.REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "JW_ABANDON_QUIET_SECONDS": f"{quiet_seconds:g}",
    }
    report = Report(str(data_dir), abandonments, unconsented, quiet_seconds, logs=str(log_dir))
    echo(f"activation bench: {abandonments} abandonments (+{unconsented} without consent), quiet period "
         f"{quiet_seconds:g} s; data {data_dir}; inbox {describe_store()}; logs {log_dir}")  # fmt: skip

    if not serving_ready(config.serving_path()):
        _build(data_dir, env, config.REPO_ROOT, log_dir, echo, people, days)
        if not serving_ready(config.serving_path()):
            raise RuntimeError(f"no serving copy with marts.person_source_ids at {config.serving_path()} "
                               f"(see {log_dir / 'build.log'})")  # fmt: skip
    share = holdout_share()
    picked = pick_customers(config.serving_path(), abandonments, unconsented, seed, share)
    products = catalogue(config.serving_path())

    ports: set[int] = set()
    api_port, receiver_port = _free_port(taken=ports), _free_port(taken=ports)
    api = f"http://127.0.0.1:{api_port}"
    env["JW_ESP_API_URL"] = f"{api}/esp"
    env["JW_SHOP_API_URL"] = f"{api}/shop"
    env["JW_ESP_API_TOKEN"] = env.get("JW_ESP_API_TOKEN") or DEMO_TOKENS["esp"]
    esp_headers = {"Authorization": f"Klaviyo-API-Key {env['JW_ESP_API_TOKEN']}", "revision": "2024-10-15"}
    receiver = f"http://127.0.0.1:{receiver_port}"
    processes = Processes(log_dir, env, config.REPO_ROOT)
    cli = [sys.executable, "-m", "orchestration.cli"]
    try:
        subprocess.run([sys.executable, "-m", "orchestration.instance"], cwd=config.REPO_ROOT, env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # dagster.yaml if none  # fmt: skip
        processes.start("world", [*cli, "world", "serve", "--port", str(api_port)])
        processes.start("webhooks", [*cli, "webhooks", "--port", str(receiver_port)])
        processes.start("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(config.REPO_ROOT / "workspace.yaml")])
        from orchestration.cli import cli as journey

        report.delivery_worker = "deliver" in journey.commands
        if report.delivery_worker:
            processes.start("deliver", [*cli, "deliver", "--follow"])
        else:
            echo("no `journey deliver` in this checkout: timing up to the outbox only")
        _wait_http(f"{receiver}/healthz", processes)
        _wait_http(f"{api}/esp/api/messages/?idempotency_key=warmup", processes, headers=esp_headers)
        # the daemon loads the code location before its first sensor tick: time the path, not that start
        _wait_log(log_dir / "daemon.log", "cart_abandonment_sensor", processes, timeout=300)
        processes.check()

        echo(f"sending {len(picked)} webhooks, one every {interval:g} s, to {receiver}/webhooks/shop")
        rng = random.Random(seed)
        session = requests.Session()
        for n, item in enumerate(picked):
            cart = [{"product_id": p, "quantity": rng.randint(1, 2), "price": price}
                    for p, price in rng.sample(products, rng.randint(1, 3))]  # fmt: skip
            now = datetime.now(timezone.utc)
            payload = sender.checkout_payload(item.token, item.shop_customer_id, cart, now)
            item.sent_at = time.time()
            answer = sender.send(f"{receiver}/webhooks/shop", "checkouts/update", payload, session=session)
            item.status = answer.status_code
            if n + 1 < len(picked):
                time.sleep(interval)
        report.sent = len(picked)
        report.accepted = sum(1 for item in picked if item.status == 200)

        import sqlalchemy as sa

        table = store.webhook_events
        with store.engine().connect() as conn:
            received = dict(conn.execute(
                sa.select(table.c.subject_id, sa.func.min(table.c.received_at))
                .where(table.c.source == "shop", table.c.subject_id.in_([i.token for i in picked]))
                .group_by(table.c.subject_id)
            ).all())  # fmt: skip
        for item in picked:
            item.received_at = received.get(item.token)

        limit = timeout if timeout is not None else quiet_seconds + 180
        wait_started = time.monotonic()
        pending = {i.token: i for i in picked if i.received_at is not None}
        expected = {t for t, i in pending.items() if i.expected}
        outbox = store.outbox
        keys = {f"{CAMPAIGN_ID}:{i.token}": i for i in picked}

        def read_outbox() -> None:
            with store.engine().connect() as conn:
                for key, created, released in conn.execute(
                    sa.select(outbox.c.idempotency_key, outbox.c.created_at, outbox.c.released_at)
                    .where(outbox.c.idempotency_key.in_(list(keys)))
                ):  # fmt: skip
                    keys[key].queued_at, keys[key].released_at = created, released

        def waiting() -> set[str]:
            if report.delivery_worker:
                open_ = [pending[t] for t in expected & pending.keys()]
                _settled(open_, ("suppressed",))  # settled unsent (suppressed at send time): nothing more to wait for
                return {i.token for i in open_ if not i.settled}
            read_outbox()
            return {t for t in expected if keys[f"{CAMPAIGN_ID}:{t}"].released_at is None}

        while waiting() and time.monotonic() - wait_started < limit:
            processes.check()
            for token in list(pending) if report.delivery_worker else []:
                answer = session.get(f"{api}/esp/api/messages/", params={"idempotency_key": f"{CAMPAIGN_ID}:{token}"},
                                     headers=esp_headers, timeout=10)  # fmt: skip
                if answer.status_code == 200 and answer.json().get("data"):
                    stamp = answer.json()["data"][0]["attributes"]["received_at"]
                    pending.pop(token).delivered_at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            time.sleep(0.5)
        # the messages that must not come: one more look after a pause as long as a sensor cycle
        time.sleep(min(10.0, quiet_seconds + 5))
        for token in [t for t in pending if t not in expected]:
            answer = session.get(f"{api}/esp/api/messages/", params={"idempotency_key": f"{CAMPAIGN_ID}:{token}"},
                                 headers=esp_headers, timeout=10)  # fmt: skip
            if answer.status_code == 200 and answer.json().get("data"):
                pending.pop(token).delivered_at = datetime.now(timezone.utc)
        read_outbox()
        report.waited_seconds = time.monotonic() - wait_started
    finally:
        processes.stop()

    _settled(picked)
    report.planning_skipped = _run_times(picked, started)
    for item in picked:
        arrived = item.delivered_at is not None
        if item.expected:
            report.expected += 1
            report.arrived += arrived
            if arrived:
                report.latencies.append(item.latency)
            elif item.settled:
                report.settled_without_send[item.settled] = report.settled_without_send.get(item.settled, 0) + 1
            else:
                report.missing.append(item.token)
            for values, at in ((report.run_requested, item.run_created_at), (report.run_started, item.run_started_at)):
                if item.received_at and at:
                    values.append((at - item.received_at).total_seconds())
            if item.received_at and item.queued_at:
                report.queued.append((item.queued_at - item.received_at).total_seconds())
            if item.received_at and item.released_at:
                report.released.append((item.released_at - item.received_at).total_seconds())
        elif not item.consented:
            report.not_consented += 1
            report.not_consented_arrived += arrived
        elif item.held_out:
            report.held_out += 1
            report.held_out_arrived += arrived
    for line in report.lines():
        echo(line)
    (log_dir / "report.json").write_text(json.dumps(
        {**asdict(report), "p50": report.percentile(0.5), "p95": report.percentile(0.95),
         "abandonment_rows": [{**asdict(i), "latency": i.latency} for i in picked]}, indent=2, default=str))  # fmt: skip
    echo(f"report: {log_dir / 'report.json'}")
    return report
