"""``journey``: the project's one command line.

    journey world generate [--seed --people --days] [--until YYYY-MM-DD[THH:MM]]   write the demo world's source
                                                      systems (cut at an instant with --until)
    journey world serve --port N [--faults RATE]      serve the demo shop, ESP and social APIs until Ctrl-C
    journey run [--full-refresh]                      the whole graph once, against the configured sources
    journey demo [--seed --people --days]             generate, run, summary
    journey identity train [--seed --people --days]   train the probabilistic identity model, save it in the repo
    journey iot-bridge [--host --port --topic ...]    MQTT -> NDJSON drop files for the IoT source
    journey clv fit FILE.csv --calibration-end DATE   BG/NBD + Gamma-Gamma on a customer_id,date,amount file (no warehouse)
    journey sentiment score TEXT... [--json]          language, score and label of German/English texts (offline)
    journey sentiment eval [--split heldout]          macro-F1 per language on the demo world's labelled texts
    journey forget --email A | --person-id ID         erase one person from every layer, suppress re-ingestion, audit
    journey publish serving                           the serving copy for BI tools: serving.duckdb (+ PostgreSQL if set)
    journey publish postgres --url URL                copy marts and pii to PostgreSQL; role bi_reader reads marts only
    journey dashboard [--port N] [--address A]        the reporting dashboard (Streamlit) on the serving copy
    journey docs [--serve] [--port 8080]              dbt docs of the current warehouse in $JW_DATA_DIR/dbt_docs; serve them
    journey webhooks [--host --port 8010]             receive the shop's and the ESP's signed webhooks into the inbox
    journey deliver [--once | --follow] [--batch-size N] [--max-attempts N]   send released outbox messages
    journey bench activation [--abandonments N --quiet-seconds S]   webhook -> ESP receipt latency, p50/p95/max
    journey spark start|stop|status|register          the Spark Thrift server of dbt's spark target; lake -> tables
    journey bench pipeline [--sizes 100k,1m,10m] [--quick]           generate + journey run vs DuckDB-native, per stage
    journey gx docs [--open]                          GX data docs of the recorded validations in $JW_DATA_DIR/gx_docs

Everything lands under ``$JW_DATA_DIR`` (default ``<repo>/data``); runs go through the Dagster instance in
``$DAGSTER_HOME`` (default ``$JW_DATA_DIR/dagster_home``), the one ``make ui`` opens. Imports are lazy so that
``journey --help`` is instant.
"""

from __future__ import annotations

import functools
import time

import click

# The demo world's defaults (ingestion.demo_world.generator.add_world_arguments has the same).
DEFAULT_SEED, DEFAULT_PEOPLE, DEFAULT_DAYS = 42, 2000, 90


def world_options(command):
    """``--seed``, ``--people``, ``--days``: the shared options of commands that build a demo world."""

    @click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Random seed of the world.")
    @click.option("--people", type=click.IntRange(min=1), default=DEFAULT_PEOPLE, show_default=True, help="People in it.")
    @click.option("--days", type=click.IntRange(min=7), default=DEFAULT_DAYS, show_default=True, help="Days of history.")
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        return command(*args, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Journey Warehouse: dlt -> DuckDB, dbt, Dagster. Data in $JW_DATA_DIR, runs in $DAGSTER_HOME."""


@cli.group()
def world() -> None:
    """The demo world: source systems that stand in for a shop, an ESP, a social network, a POS and devices."""


def _generate(seed: int, people: int, days: int, until=None) -> dict:
    from ingestion import config
    from ingestion.demo_world.generator import generate
    from ingestion.demo_world.writers import write_world

    world = generate(seed, people, days)
    if until is not None:
        from ingestion.demo_world.cut import until as cut_until

        world = cut_until(world, until)
    written = write_world(world, config.source_systems_dir())
    cut = f", cut at {world.end.isoformat()}" if until is not None else ""
    click.echo(f"demo world: {people} people, {days} days, seed {seed}{cut} -> {config.source_systems_dir()}")
    return written


def _utc_instant(ctx, param, value):
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (UTC; an offset may be given) -> an aware datetime."""
    if value is None:
        return None
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


@world.command("generate")
@world_options
@click.option(
    "--until", "until", callback=_utc_instant, default=None, metavar="YYYY-MM-DD[THH:MM]",
    help="Write the world as it stood at this instant (UTC): what had happened before it (demo_world.cut.until).",
)  # fmt: skip
def world_generate(seed: int, people: int, days: int, until) -> None:
    """Write the demo world's source systems to $JW_DATA_DIR/source_systems (replacing what is there)."""
    import json

    click.echo(json.dumps(_generate(seed, people, days, until), indent=2, default=str))


@world.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="Port (0: any free port).")
@click.option(
    "--faults", type=click.FloatRange(0.0, 1.0), default=0.0, show_default=True,
    help="Share of requests that get a fault (429, 5xx, slow, truncated body, connection reset).",
)  # fmt: skip
def world_serve(host: str, port: int, faults: float) -> None:
    """Serve the demo shop, ESP and social APIs on one port (under /shop, /esp, /social) until Ctrl-C."""
    from ingestion import config
    from ingestion.demo_world import api_server
    from ingestion.demo_world.api_server import serve

    api_root = config.source_systems_dir() / "api"
    if not api_root.is_dir():
        raise click.ClickException(f"no demo world at {config.source_systems_dir()}: run `journey world generate` first")
    options = {"host": host, "port": port}
    if faults:
        options["faults"] = faults  # only when asked: servers without a fault switch still serve
    try:
        server = serve(api_root, **options)
    except TypeError as error:  # a server without the fault switch
        raise click.ClickException(f"this demo server cannot inject faults ({error})") from error
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as cleanly as Ctrl-C
    with server as base:
        click.echo(f"serving the demo source systems on {base}" + (f" with faults at rate {faults}" if faults else ""))
        click.echo("point the sources at them:")
        tokens = getattr(api_server, "DEMO_TOKENS", {})  # the demo servers' own tokens, not secrets
        for system in ("shop", "esp", "social"):
            click.echo(f"  export JW_{system.upper()}_API_URL={base}/{system}")
            if system in tokens:
                click.echo(f"  export JW_{system.upper()}_API_TOKEN={tokens[system]}")
        click.echo("Ctrl-C to stop.", nl=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            click.echo("stopped.")


@cli.command("run")
@click.option(
    "--full-refresh", is_flag=True,
    help="Rebuild dbt's incremental models (touchpoints, sessions, texts' sentiment, ...) from scratch, not just their "
    "lookback window (dbt var lookback_days).",
)  # fmt: skip
def run(full_refresh: bool) -> None:
    """Run the whole graph once (every source, every model, every check), as a scheduler would.

    Exits 0 only if every step ran and every blocking check passed.
    """
    started = time.monotonic()
    from orchestration.demo import run_and_summarize

    summary = run_and_summarize("run", full_refresh=full_refresh)
    click.echo(f"wall time: {time.monotonic() - started:.1f} s")
    raise SystemExit(0 if summary.ok else 1)


@cli.command("demo")
@world_options
def demo(seed: int, people: int, days: int) -> None:
    """Build a demo world, run the whole graph on it, and print what was built (and how well identities resolve)."""
    started = time.monotonic()
    from ingestion import config
    from ingestion.demo_world.scoring import score_identity, score_sentiment
    from orchestration.demo import run_and_summarize

    written = _generate(seed, people, days)
    summary = run_and_summarize("demo_run")
    if summary.success:
        score = score_identity(config.warehouse_path(), written["ground_truth"])
        click.echo(
            f"identity resolution vs ground truth: precision {score.precision:.4f} "
            f"({score.correct_pairs}/{score.predicted_pairs} pairs), recall {score.recall:.4f} "
            f"({score.correct_pairs}/{score.true_pairs} pairs)"
        )
        sentiment = score_sentiment(config.warehouse_path(), written["text_sentiment_truth"])
        click.echo("sentiment vs the texts' truth: macro-F1 " + ", ".join(
            f"{language} {r['macro_f1']:.3f} ({r['n']:,} texts{f', {m} unscored' if (m := r['missing']) else ''})"
            for language, r in sentiment.items()))  # fmt: skip
    click.echo(f"wall time: {time.monotonic() - started:.1f} s")
    click.echo(f"\nopen the Dagster UI on these runs: make ui  (DAGSTER_HOME={config.dagster_home()})")
    raise SystemExit(0 if summary.ok else 1)


@cli.group()
def identity() -> None:
    """Identity resolution: the probabilistic linkage model (Splink) the pipeline predicts with."""


@identity.command("train")
@world_options
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=str), default=None,
    help="Where the model goes  [default: dbt_project/identity/splink_model.json in the repo]",
)  # fmt: skip
def identity_train(seed: int, people: int, days: int, output: str | None) -> None:
    """Train the linkage model on a demo world (u by random sampling, m by EM; no ground truth) and save it.

    The pipeline never trains: it scores with the saved model. Commit the file to change the model.
    """
    from pathlib import Path

    from ingestion.linkage import MODEL_PATH
    from orchestration.identity import link_threshold, train_on_demo_world

    started = time.monotonic()
    train_on_demo_world(seed, people, days, Path(output) if output else MODEL_PATH, threshold=link_threshold(), echo=click.echo)
    click.echo(f"wall time: {time.monotonic() - started:.1f} s")


@cli.command("iot-bridge")
@click.option("--host", default="127.0.0.1", show_default=True, help="MQTT broker host.")
@click.option("--port", type=click.IntRange(1, 65535), default=1883, show_default=True, help="MQTT broker port.")
@click.option("--topic", default="journey/iot/#", show_default=True, help="Topic filter to subscribe to (QoS 1).")
@click.option(
    "--drop-dir", type=click.Path(file_okay=False, path_type=str), default=None,
    help="Where NDJSON drop files go  [default: $JW_DATA_DIR/source_systems/iot_drop]",
)  # fmt: skip
@click.option("--client-id", default="journey-iot-bridge", show_default=True, help="MQTT client id (persistent session).")
def iot_bridge(host: str, port: int, topic: str, drop_dir: str | None, client_id: str) -> None:
    """Bridge device messages from the MQTT broker to NDJSON drop files (the IoT source's input) until Ctrl-C."""
    from pathlib import Path

    from ingestion import config

    try:
        from ingestion.iot_bridge import run as run_bridge
    except ImportError as error:
        raise click.ClickException(f"the IoT bridge is not installed in this checkout (ingestion.iot_bridge: {error})")
    drop = Path(drop_dir) if drop_dir else config.source_systems_dir() / "iot_drop"
    click.echo(f"bridging mqtt://{host}:{port} {topic} -> {drop} (client id {client_id}); Ctrl-C to stop.")
    try:
        run_bridge(host=host, port=port, topic=topic, drop_dir=drop, client_id=client_id)
    except KeyboardInterrupt:
        click.echo("stopped.")


@cli.group()
def clv() -> None:
    """Customer lifetime value: BG/NBD (purchases, dropout) and Gamma-Gamma (spend), on any transactions file."""


def _iso_date(ctx, param, value):
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


@clv.command("fit")
@click.argument("transactions", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.option(
    "--calibration-end", required=True, callback=_iso_date,
    help="Last day (YYYY-MM-DD, inclusive) of the transactions the models see.",
)  # fmt: skip
@click.option("--unit", type=click.Choice(["days", "weeks"]), default="days", show_default=True, help="Time unit of the fit.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def clv_fit(transactions: str, calibration_end, unit: str, as_json: bool) -> None:
    """Fit both models on TRANSACTIONS.csv (header customer_id,date,amount; dates YYYY-MM-DD), no warehouse involved.

    One transaction per customer and calendar day; frequency counts repeat transactions; recency and age run from the
    first purchase; monetary value is the mean of the repeat transactions. Prints the parameters and log-likelihoods.
    """
    import json

    from ingestion import clv as model

    try:
        frame = model.read_transactions_csv(transactions)
        if not (frame["date"].dt.date <= calibration_end).any():
            raise ValueError(
                f"{transactions}: no transaction on or before the calibration end {calibration_end} "
                f"(the first is on {frame['date'].min().date()})"
            )
        fitted = model.fit(model.summarize(frame, calibration_end, unit), unit, calibration_end)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(fitted.to_dict()))
        return
    click.echo(
        f"{transactions}: {fitted.customers} customers, {fitted.repeat_customers} repeat customers; "
        f"calibration end {fitted.calibration_end}, time unit {fitted.time_unit}"
    )
    click.echo(
        f"BG/NBD       r {fitted.r:.6f}  alpha {fitted.alpha:.6f}  a {fitted.a:.6f}  b {fitted.b:.6f}  "
        f"log-likelihood {fitted.log_likelihood:.4f}"
    )
    click.echo(
        f"Gamma-Gamma  p {fitted.p:.6f}  q {fitted.q:.6f}  gamma {fitted.gamma:.6f}  "
        f"log-likelihood {fitted.gg_log_likelihood:.4f}"
    )
    click.echo(f"converged: {'yes' if fitted.converged else 'NO'}; {fitted.seconds:.2f} s")


@cli.group()
def sentiment() -> None:
    """Sentiment of German and English texts, offline (lexicons and rules; nothing downloaded)."""


@sentiment.command("score")
@click.argument("texts", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per text instead of text.")
def sentiment_score(texts: tuple[str, ...], as_json: bool) -> None:
    """Print language (de, en or -), score in [-1, 1] and label of each TEXT."""
    import json

    from ingestion import sentiment as model

    for text, result in zip(texts, model.score_many(texts)):
        if as_json:
            click.echo(json.dumps({"text": text, **result._asdict()}, ensure_ascii=False))
        else:
            click.echo(f"{result.language or '-'}\t{result.score:+.4f}\t{result.label}\t{text}")


@sentiment.command("eval")
@click.option(
    "--split", type=click.Choice(["tune", "heldout", "world"]), default="heldout", show_default=True,
    help="Which split of the labelled corpus (ingestion.demo_world.texts): tune (what the thresholds were chosen on), "
    "heldout (never tuned on), world (what the demo world writes).",
)  # fmt: skip
@click.option("--n", "size", type=click.IntRange(min=30), default=3000, show_default=True, help="Texts in the corpus.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the corpus.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def sentiment_eval(split: str, size: int, seed: int, as_json: bool) -> None:
    """Macro-F1, accuracy and confusion matrix per language of the scorer on a labelled corpus split."""
    import json

    from ingestion import sentiment as model

    try:
        from ingestion.demo_world.texts import corpus
    except ImportError as error:
        raise click.ClickException(f"no labelled corpus in this checkout (ingestion.demo_world.texts: {error})")
    started = time.monotonic()
    report = model.evaluate(corpus(split, n=size, seed=seed))
    seconds = time.monotonic() - started
    if as_json:
        click.echo(json.dumps({"split": split, "n": size, "seed": seed, "seconds": round(seconds, 3), "languages": report}))
        return
    click.echo(f"split {split}, {size} texts, seed {seed}: scored in {seconds:.2f} s")
    for language, result in report.items():
        f1 = "  ".join(f"{label} {value:.3f}" for label, value in result["f1"].items())
        click.echo(
            f"{language}: macro-F1 {result['macro_f1']:.3f}  accuracy {result['accuracy']:.3f}  n {result['n']}  "
            f"(F1 {f1}; language missed {result['language_errors']})"
        )
        click.echo("    true \\ predicted  " + "  ".join(f"{label:>8}" for label in model.LABELS))
        for true_label, row in result["confusion"].items():
            click.echo(f"    {true_label:>17}  " + "  ".join(f"{row[label]:>8}" for label in model.LABELS))


@cli.command("forget")
@click.option("--email", help="The person's e-mail address (any case, spaces around it ignored).")
@click.option("--person-id", help="The person's person_id (person_...).")
@click.option("--requested-by", help="Who asked (kept in audit.erasure_log); default: the OS user.")
def forget(email: str | None, person_id: str | None, requested_by: str | None) -> None:
    """Erase one person: raw rows of every source, quarantine, dlt staging and load packages, models (rebuilt),
    the DuckDB file rewritten; their keyed hashes go to $JW_DATA_DIR/suppression.json so that ingestion never
    brings them back; one audit row (audit.erasure_log) without personal data."""
    from orchestration.forget import forget as run_forget

    if bool(email) == bool(person_id):
        raise click.UsageError("give exactly one of --email and --person-id")
    try:
        result = run_forget(email=email, person_id=person_id, requested_by=requested_by)
    except LookupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"erased person {result.person_hash[:16]} (request {result.request_id}): {result.rows_removed:,} rows "
               f"in {len(result.removed)} tables, {sum(result.files_removed.values()):,} files/lines, "
               f"dlt staging emptied ({result.staging_emptied:,} rows), "
               f"{result.identifiers} identifiers suppressed ({result.suppressed_new} new)")  # fmt: skip
    for relation, n in sorted(result.removed.items()):
        click.echo(f"  {relation}: {n:,}")
    click.echo(f"warehouse rewritten: {result.bytes_before:,} -> {result.bytes_after:,} bytes; {result.seconds:.1f} s ("
               + ", ".join(f"{step} {s:.1f} s" for step, s in result.step_seconds.items()) + ")")
    if result.serving:
        click.echo(f"serving copy published again: {result.serving}")
    if result.republished:
        click.echo(f"PostgreSQL serving copy published again: {result.republished}")
    if result.residue:
        click.echo("STILL FOUND (an e-mail, phone or handle of the person) in: " + ", ".join(result.residue), err=True)
        raise SystemExit(1)


@cli.group()
def publish() -> None:
    """Serve the warehouse's marts from another database, with roles (bi_reader reads marts, never pii)."""


@publish.command("serving")
def publish_serving() -> None:
    """Publish the serving copy by hand (the asset serving_copy does it after every build): schema marts into
    serving.duckdb next to the warehouse, pii into serving_pii.duckdb (owner-only), swapped in atomically; and,
    when $JW_SERVING_POSTGRES_URL is set, schemas marts and pii to PostgreSQL in one transaction."""
    from orchestration.publish import PublishError
    from orchestration.serving import READABLE_BY, ServingError, publish_all

    try:
        report = publish_all()
    except (ServingError, PublishError) as error:
        raise click.ClickException(str(error)) from None
    marts = {t: n for t, n in report.tables.items() if t.startswith("marts.")}
    click.echo(f"serving copy: {report.path}: {len(marts)} marts, {sum(marts.values()):,} rows in {report.seconds:.1f} s "
               f"(storage {report.storage_version}: {READABLE_BY}); open it read-only")  # fmt: skip
    if report.pii_path:
        click.echo(f"pii: {report.pii_path} (owner-only): {len(report.tables) - len(marts)} tables")
    if report.postgres_url:
        click.echo(f"PostgreSQL: {report.postgres_url}: {len(report.postgres_tables)} tables in {report.postgres_seconds:.1f} s")


@publish.command("postgres")
@click.option(
    "--url", required=True, envvar=["JW_SERVING_POSTGRES_URL", "JW_PUBLISH_POSTGRES_URL"], show_envvar=True,
    help="PostgreSQL URL (postgresql://user[:password]@host:port/db; postgresql+psycopg2:// works too).",
)  # fmt: skip
def publish_postgres(url: str) -> None:
    """Copy the schemas marts and pii (typed) to PostgreSQL in one transaction, replacing the previous copy, and
    create or update the LOGIN role bi_reader (password from $JW_BI_READER_PASSWORD) with USAGE/SELECT on marts
    only; pii is revoked from PUBLIC and bi_reader. Idempotent."""
    from orchestration.publish import READER_ROLE, PublishError, publish_postgres as publish_to, safe_url

    click.echo(f"publishing to {safe_url(url)}")
    try:
        report = publish_to(url, echo=click.echo)
    except PublishError as error:
        raise click.ClickException(str(error)) from None
    rows = sum(report.tables.values())
    click.echo(f"{len(report.tables)} tables, {rows:,} rows in {report.seconds:.1f} s"
               + (f"; not in the warehouse: {', '.join(report.missing_schemas)}" if report.missing_schemas else ""))
    role = "created" if report.role_created else "updated"
    click.echo(f"role {READER_ROLE} {role}" + ("" if report.password_set else " (password unchanged)")
               + ": USAGE/SELECT on marts; nothing on pii")


@cli.command("dashboard")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
def dashboard(port: int, address: str) -> None:
    """The reporting dashboard (Streamlit, headless, no usage statistics) on the serving copy
    ($JW_SERVING_PATH, else $JW_DATA_DIR/serving.duckdb), read-only: it never opens the warehouse. Until Ctrl-C."""
    import os
    import sys

    from ingestion.config import REPO_ROOT, serving_path

    click.echo(f"dashboard on http://{address}:{port} reading {serving_path()}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    args = [
        sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "dashboard" / "app.py"),
        "--server.port", str(port), "--server.address", address, "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    sys.stdout.flush()
    os.chdir(REPO_ROOT)
    os.execve(sys.executable, args, env)  # the process becomes Streamlit: a signal to it stops the server


@cli.command("docs")
@click.option("--serve", is_flag=True, help="Serve the site until Ctrl-C once it is written.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to serve on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to serve on.")
def docs(serve: bool, port: int, host: str) -> None:
    """Generate the dbt docs (models, columns, tests, lineage to the dashboard pages and exports, the warehouse's
    column types) from the current warehouse into $JW_DATA_DIR/dbt_docs, and with --serve serve them.

    dbt opens the warehouse read-write for its catalog: this waits while a reader holds it."""
    from orchestration.docs import DocsError, generate_docs, serve_docs

    try:
        site = generate_docs(log=None)
    except DocsError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"dbt docs: {site.nodes} models, seeds and sources; {site.catalogued} relations catalogued; "
               f"{site.seconds:.1f} s -> {site.path}")
    if not serve:
        return
    server = serve_docs(site.path, port=port, host=host)
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    click.echo(f"serving the dbt docs on http://{host}:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped.")
    finally:
        server.server_close()


# --- activation: the webhook receiver and its bench (issue 10, H2) ----------------------------------------------


@cli.command("webhooks")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8010, show_default=True, help="Port to listen on.")
@click.option(
    "--max-age", type=click.FloatRange(min=1), default=300, show_default=True,
    help="Seconds after its trigger time a webhook is still taken (older: 409 stale).",
)  # fmt: skip
def webhooks(host: str, port: int, max_age: float) -> None:
    """The webhook receiver: POST /webhooks/shop (Shopify checkouts/orders, HMAC-SHA256 with
    $JW_SHOP_WEBHOOK_SECRET) and POST /webhooks/esp (unsubscribes, $JW_ESP_WEBHOOK_SECRET) verified and appended
    to the activation store's inbox ($JW_ACTIVATION_DB_URL, else SQLite in $JW_DATA_DIR/activation). Until Ctrl-C.
    No access log: nothing of a request is logged."""
    import uvicorn

    from activation.webhooks import create_app, describe_store, uvicorn_config

    app = create_app(max_age_seconds=max_age)
    click.echo(f"webhook receiver on http://{host}:{port}/webhooks/shop and /webhooks/esp (GET /healthz)")
    click.echo(f"inbox: {describe_store()}")
    click.echo("Ctrl-C to stop.")
    uvicorn.Server(uvicorn_config(app, host=host, port=port)).run()
    click.echo("stopped.")


@cli.group("bench")
def bench() -> None:
    """Measurements on this machine (not tests: nothing asserts a time)."""


@bench.command("activation")
@click.option("--abandonments", type=click.IntRange(min=1), default=20, show_default=True, help="Consented customers who abandon a checkout.")
@click.option("--unconsented", type=click.IntRange(min=0), default=2, show_default=True, help="Customers without e-mail consent who abandon one too (must get nothing).")
@click.option("--quiet-seconds", type=click.FloatRange(min=0), default=5.0, show_default=True, help="JW_ABANDON_QUIET_SECONDS of the sensor.")
@click.option("--interval", type=click.FloatRange(min=0), default=1.0, show_default=True, help="Seconds between two webhooks.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Seconds to wait for the messages  [default: quiet period + 180]")
@click.option("--seed", type=int, default=1, show_default=True, help="Which customers and carts.")
def bench_activation(abandonments: int, unconsented: int, quiet_seconds: float, interval: float, timeout, seed: int) -> None:
    """The real-time cart-abandonment path end to end: demo APIs, receiver, Dagster daemon with the sensor,
    delivery worker; N signed checkouts/update webhooks; p50/p95/max of webhook received -> ESP receipt.
    Uses $JW_DATA_DIR (builds a demo warehouse there when it has no serving copy with the activation marts)."""
    from activation.bench import run_bench

    try:
        report = run_bench(abandonments=abandonments, quiet_seconds=quiet_seconds, unconsented=unconsented,
                           interval=interval, timeout=timeout, seed=seed, echo=click.echo)  # fmt: skip
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    bad = report.missing or report.held_out_arrived or report.not_consented_arrived
    raise SystemExit(1 if bad else 0)


# --- journey spark (the Thrift server of dbt's spark target) ---------------------------------------------------


@cli.group("spark")
def spark_group() -> None:
    """The Spark Thrift server of dbt's `spark` target (pyspark, local[2], 127.0.0.1:10000, data in $JW_DATA_DIR/spark)."""


@spark_group.command("start")
@click.option("--timeout", type=click.FloatRange(min=1), default=240.0, show_default=True, help="Seconds to wait for it to accept connections.")
def spark_start(timeout: float) -> None:
    """Start the server (unless it runs) and wait until it accepts connections."""
    from orchestration import spark

    try:
        pid, seconds = spark.start(timeout=timeout)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"spark thrift server: pid {pid}, accepting on {spark.HOST}:{spark.PORT} after {seconds:.1f} s "
               f"(log {spark.log_file()})")


@spark_group.command("stop")
def spark_stop() -> None:
    """Stop the server of the pid file."""
    from orchestration import spark

    click.echo("spark thrift server: stopped" if spark.stop() else "spark thrift server: was not running")


@spark_group.command("status")
def spark_status() -> None:
    """Whether it runs and accepts connections (exit 1 when not)."""
    from orchestration import spark

    state = spark.status()
    click.echo(str(state))
    raise SystemExit(0 if state.pid is not None and state.accepting else 1)


@spark_group.command("register")
@click.option("--lake", type=click.Path(file_okay=False), default=None, help="dlt's Parquet  [default: $JW_LAKE_DIR or $JW_DATA_DIR/lake]")
def spark_register(lake: str | None) -> None:
    """External tables <dataset>.<table> over dlt's Parquet in the lake, for the dbt sources."""
    from pathlib import Path

    from orchestration import spark

    tables = spark.register(Path(lake) if lake else None)
    for dataset, names in tables.items():
        click.echo(f"{dataset}: {len(names)} tables")
    if not tables:
        raise click.ClickException(f"no Parquet tables under {lake or spark.lake_dir()}")


@bench.command("pipeline")
@click.option("--sizes", default="100k,1m,10m", show_default=True,
              help="Worlds to measure: touchpoint events (100k, 1m, 10m) or people (20000p), comma-separated.")
@click.option("--quick", is_flag=True, help="A smoke run: one world of 300 people over 21 days (overrides --sizes, --days).")
@click.option("--days", type=click.IntRange(min=7), default=DEFAULT_DAYS, show_default=True, help="Days of history of every world.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Random seed of the worlds.")
@click.option("--max-generate-seconds", type=float, default=900, show_default=True,
              help="Skip a size whose projected generation takes longer (projected from the previous size).")
@click.option("--max-run-seconds", type=float, default=3600, show_default=True,
              help="Skip a size whose projected `journey run` takes longer (projected from the previous size).")
@click.option("--incremental-size", default="largest", show_default=True,
              help="Which measured size gets the incremental day (a --sizes label, 'largest', or 'none').")
@click.option("--workdir", type=click.Path(file_okay=False), default=None, help="Work folder (default: a temporary one).")
@click.option("--keep", is_flag=True, help="Keep the worlds and warehouses in the work folder.")
@click.option("--results-dir", type=click.Path(file_okay=False), default=None, help="Where the JSON and PNG go  [default: bench/results]")
def bench_pipeline(sizes: str, quick: bool, days: int, seed: int, max_generate_seconds: float, max_run_seconds: float,
                   incremental_size: str, workdir, keep: bool, results_dir) -> None:  # fmt: skip
    """Worlds of increasing size: generate, `journey run` through Dagster (per-stage wall times from the run's step
    events, peak RSS of its process tree), the DuckDB-native baseline on the same files, an incremental day against
    a full refresh. Prints the table; writes bench/results/pipeline-<UTC>.json and .png. Figures, not pass/fail."""
    from pathlib import Path

    from orchestration.bench_pipeline import RESULTS_DIR, bench_pipeline as run_bench_pipeline, parse_size

    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the run, the API server and cleans up
    if quick:
        sizes, days = "300p", 21
    labels = [s for s in sizes.split(",") if s.strip()]
    try:
        for label in labels:
            parse_size(label)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--sizes") from None
    report = run_bench_pipeline(
        labels, days=days, seed=seed, workdir=Path(workdir) if workdir else None, max_generate_s=max_generate_seconds,
        max_run_s=max_run_seconds, incremental_size=None if incremental_size == "none" else incremental_size,
        results_dir=Path(results_dir) if results_dir else RESULTS_DIR, keep=keep, echo=click.echo,
    )  # fmt: skip
    failed = [s["label"] for s in report["sizes"] if s["status"] == "failed"]
    raise SystemExit(1 if failed else 0)


# --- journey deliver (activation: the outbox's delivery worker) ------------------------------------------------


@cli.command("deliver")
@click.option("--once", "mode", flag_value="once", default=True, help="Send what is due now, then exit (default).")
@click.option("--follow", "mode", flag_value="follow", help="Keep claiming and sending until SIGTERM or Ctrl-C.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True, help="Messages claimed at a time.")
@click.option("--max-attempts", type=click.IntRange(min=1), default=8, show_default=True,
              help="Attempts before a retryable failure is settled failed.")  # fmt: skip
def deliver(mode: str, batch_size: int, max_attempts: int) -> None:
    """Send released messages of the outbox (exports.outbox) to their destinations (the ESP's send API, the ad
    platform's customer-match files, the signed export webhook) with their idempotency keys, retries with backoff,
    and every attempt in exports.deliveries. Consent, erasure, ESP unsubscribes and holdouts are checked again just
    before sending: a message that fails them is settled suppressed, never sent.

    Lease, backoff and polling: $JW_DELIVERY_LEASE_SECONDS (60), $JW_DELIVERY_BACKOFF_SECONDS (2),
    $JW_DELIVERY_POLL_SECONDS (0.5)."""
    from activation.delivery import NoServingCopy, Settings, deliver as run_delivery

    settings = Settings(batch_size=batch_size, max_attempts=max_attempts)
    try:
        tally = run_delivery(mode, settings, echo=click.echo)
    except NoServingCopy as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"done: {tally}")


@cli.group("gx")
def gx_group() -> None:
    """Great Expectations: the validations of export batches and raw landings (run as Dagster asset checks)."""


@gx_group.command("docs")
@click.option("--open", "open_browser", is_flag=True, help="Open the site's index page in a browser.")
def gx_docs(open_browser: bool) -> None:
    """Build GX's data docs into $JW_DATA_DIR/gx_docs from the validations recorded so far (every export batch
    check and landing check records its result) and print the index page's path."""
    from orchestration.lib.gx import build_docs

    index = build_docs()
    click.echo(f"GX data docs -> {index}")
    if open_browser:
        import webbrowser

        webbrowser.open(index.as_uri())


@cli.command("compare")
@click.argument("engine", type=click.Choice(["postgres", "spark"]))
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Random seed of the world.")
@click.option("--people", type=click.IntRange(min=1), default=300, show_default=True, help="People in it.")
@click.option("--days", type=click.IntRange(min=7), default=21, show_default=True, help="Days of history.")
@click.option("--url", default=None, help="PostgreSQL database to build on, dropped and created anew (default: "
              "$JW_COMPARE_POSTGRES_URL, else JW_POSTGRES_URL's server with database <name>_compare).")  # fmt: skip
@click.option("--tests/--no-tests", default=True, show_default=True, help="Run the data tests on both engines too.")
def compare(engine: str, seed: int, people: int, days: int, url: str | None, tests: bool) -> None:
    """Build the demo world on DuckDB and on ENGINE from the same files and compare every mart (schemas marts and
    pii) by checksum; prints the table, writes $JW_DATA_DIR/compare-ENGINE.json, exits 1 on an unexpected
    difference."""
    from orchestration.compare import compare as run_compare

    report = run_compare(engine, people=people, days=days, seed=seed, url=url, log=click.echo, tests=tests)
    if not report["ok"]:
        raise SystemExit(1)


def main(args=None) -> None:
    cli.main(args=args, prog_name="journey")


if __name__ == "__main__":
    main()
