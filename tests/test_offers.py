"""Real-time cart abandonment on the small build's serving copy: product similarity against a recomputation from the
world's orders, offers against a straightforward recomputation, every reason a checkout gets no message, the sensor's
quiet period and run keys, and the job's held-then-released batch (a real activation store in SQLite, a real
ephemeral Dagster instance)."""

import json
import math
import re
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import dagster as dg
import duckdb
import pytest

from activation import offers, store
from activation.holdout import in_holdout
from ingestion.demo_world.generator import PRODUCT_ID_BASE

NOW = datetime.now(timezone.utc)
QUIET = 1800.0


@pytest.fixture(scope="module")
def serving(small_build, tmp_path_factory):
    """The small build's serving copy (marts only), published as the build publishes it."""
    from orchestration.serving import publish_serving

    target = tmp_path_factory.mktemp("offers-serving") / "serving.duckdb"
    publish_serving(small_build.built, target)
    return target


@pytest.fixture(autouse=True)
def activation_store(request, tmp_path, monkeypatch):
    """A fresh activation store (SQLite) per test; the serving copy from ``serving`` when the test uses it."""
    monkeypatch.setenv("JW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("JW_ACTIVATION_DB_URL", raising=False)
    monkeypatch.delenv(offers.QUIET_SECONDS_ENV, raising=False)
    if "serving" in request.fixturenames:
        monkeypatch.setenv("JW_SERVING_PATH", str(request.getfixturevalue("serving")))
    store.dispose()
    yield
    store.dispose()


def query(path, sql, params=()):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


# --- the world's truth ------------------------------------------------------------------------------------


def world_stock(world) -> dict[str, int]:
    return {str(p["id"]): sum(v["inventory_quantity"] for v in p["variants"]) for p in world.shop["products"]}


def world_baskets(world) -> list[set[str]]:
    return [
        {str(line["product_id"]) for line in order["line_items"]}
        for order in world.shop["orders"]
        if not order.get("cancelled_at")
    ]


def test_the_catalogue_is_the_worlds_with_its_stock(serving, small_world):
    got = {p: (category, stock, in_stock) for p, category, stock, in_stock in query(
        serving, "select product_id, category, inventory_quantity, in_stock from marts.product_catalog")}  # fmt: skip
    stock = world_stock(small_world)
    assert got == {
        str(p["id"]): (p["product_type"], stock[str(p["id"])], stock[str(p["id"])] > 0) for p in small_world.shop["products"]
    }
    assert 0 < sum(not s for _, _, s in got.values()) < len(got) / 3  # a few sold out, most in stock


def test_product_similarity_is_the_co_purchase_cosine_of_the_orders_with_a_category_fallback(serving, small_world):
    import pandas as pd

    baskets = world_baskets(small_world)
    orders = pd.Series([p for basket in baskets for p in basket]).value_counts().to_dict()
    pairs = pd.DataFrame([(a, b) for basket in baskets for a in basket for b in basket if a != b], columns=["a", "b"])
    together = pairs.value_counts().reset_index(name="n")
    together["score"] = together["n"] / (together["a"].map(orders) * together["b"].map(orders)).map(math.sqrt)
    expected = {(r.a, r.b): r.score for r in together.itertuples()}
    assert len(expected) > 50  # the small world has baskets of several products

    similarity = pd.DataFrame(
        query(serving, "select product_id, similar_product_id, score, method, rank from marts.product_similarity"),
        columns=["product_id", "similar_product_id", "score", "method", "rank"],
    )
    top_n = 10
    co = similarity[similarity.method == "co_purchase"]
    got = {(r.product_id, r.similar_product_id): r.score for r in co.itertuples()}
    for (a, b), score in got.items():
        assert score == pytest.approx(expected[(a, b)])
    # every pair bought together is kept, unless the product has more than top_n such neighbours (then the best)
    by_product = defaultdict(list)
    for (a, b), score in expected.items():
        by_product[a].append((-score, b))
    for product, neighbours in by_product.items():
        kept = {b for _, b in sorted(neighbours)[:top_n]}
        assert {b for (a, b) in got if a == product} == kept, product

    catalogue = {p: (c, band) for p, c, band in query(serving, "select product_id, category, price_band from marts.product_catalog")}
    fallback = similarity[similarity.method == "category_price_band"]
    assert len(fallback) > 0
    assert all(catalogue[r.product_id] == catalogue[r.similar_product_id] for r in fallback.itertuples())
    assert not set(zip(fallback.product_id, fallback.similar_product_id)) & set(expected)
    for product, rows in similarity.groupby("product_id"):
        rows = rows.sort_values("rank")
        assert list(rows["rank"]) == list(range(1, len(rows) + 1)) and len(rows) <= top_n
        assert list(rows["method"]) == sorted(rows["method"], key=lambda m: m != "co_purchase")  # co-purchase first
    assert set(similarity.product_id) == set(catalogue)  # every product has neighbours (own band at least)


# --- people of the small build ----------------------------------------------------------------------------


def people(serving) -> list[dict]:
    """Every person with a shop account, their consent, ESP profiles and shop customer ids (serving copy)."""
    rows = query(serving, """
        select c.person_id, c.consent_email_marketing,
               list(distinct s.source_id order by s.source_id) filter (where s.id_type = 'shop_customer'),
               list(distinct s.source_id order by s.source_id) filter (where s.id_type = 'esp_profile')
        from marts.customer_360 c join marts.person_source_ids s using (person_id)
        group by all
    """)  # fmt: skip
    return [
        {"person_id": p, "consent": consent, "customers": customers or [], "profiles": profiles or []}
        for p, consent, customers, profiles in rows
        if customers
    ]


def held_out(person: dict) -> bool:
    return in_holdout(person["person_id"], offers.CAMPAIGN_ID, offers.campaign()[0]["holdout_share"])


def eligible(person: dict) -> bool:
    return bool(person["consent"] and person["profiles"]) and not held_out(person)


def bought_in_world(world, person: dict) -> set[str]:
    customers = set(person["customers"])
    return {
        str(line["product_id"])
        for order in world.shop["orders"]
        if str(order["customer"]["id"]) in customers and not order.get("cancelled_at")
        for line in order["line_items"]
    }


def checkout(token, customer, products, received_at, completed_at=None, topic="checkouts/update"):
    store.append_webhook({
        "webhook_id": str(uuid.uuid4()), "source": "shop", "topic": topic, "subject_id": token,
        "customer_ref": customer, "triggered_at": received_at, "received_at": received_at,
        "payload": {
            "token": token, "customer": {"id": int(customer)} if customer else None, "completed_at": completed_at,
            "line_items": [{"product_id": int(p), "quantity": 1} for p in products],
        },
    })  # fmt: skip


def order(token, customer, received_at):
    store.append_webhook({
        "webhook_id": str(uuid.uuid4()), "source": "shop", "topic": "orders/create", "subject_id": token,
        "customer_ref": customer, "triggered_at": received_at, "received_at": received_at,
        "payload": {"id": 1, "checkout_token": token, "customer": {"id": int(customer)}, "line_items": []},
    })  # fmt: skip


def similar_rows(serving) -> dict[str, list[tuple]]:
    rows = defaultdict(list)
    for product, similar, score, method, rank in query(
        serving, "select product_id, similar_product_id, score, method, rank from marts.product_similarity"
    ):
        rows[product].append((similar, score, method, rank))
    return rows


def expected_offers(similar, cart, bought, stock) -> list[str]:
    """The offers by their definition: similar to the cart, in stock, not in the cart, not bought; co-purchase
    neighbours first, then the best rank any cart product gives, the higher score, the id; three at most."""
    best = {}
    for product in cart:
        for other, score, method, rank in similar[product]:
            key = (method != "co_purchase", rank, -score)
            best[other] = min(best.get(other, key), key)
    allowed = [p for p in best if p not in cart and p not in bought and stock[p] > 0]
    return sorted(allowed, key=lambda p: (best[p], p))[:3]


def test_offers_are_similar_in_stock_not_in_the_cart_and_not_bought(serving, small_world):
    similar, stock = similar_rows(serving), world_stock(small_world)
    buyers = [p for p in people(serving) if eligible(p) and bought_in_world(small_world, p)]
    assert len(buyers) >= 5
    cases, excluded = {}, defaultdict(int)
    for n, person in enumerate(buyers[:12]):
        bought = bought_in_world(small_world, person)
        # a cart whose neighbours include what the person bought or what is sold out, and a product similar to it
        first = next(
            (p for p in sorted(similar) if any(o in bought or stock[o] == 0 for o, *_ in similar[p])), sorted(similar)[n]
        )
        cart = [first, similar[first][0][0]] if n % 2 else [first]
        token = f"tok-{n:03d}"
        checkout(token, person["customers"][0], cart, NOW - timedelta(hours=2))
        cases[token] = (person, cart, expected_offers(similar, cart, bought, stock))
        neighbours = {o for p in cart for o, *_ in similar[p]}
        excluded["bought"] += bool(neighbours & bought - set(cart))
        excluded["sold_out"] += any(stock[o] == 0 for o in neighbours)
        excluded["in_cart"] += bool(neighbours & set(cart))
    assert min(excluded.values()) > 0, excluded  # every rule had something to leave out

    result = offers.plan(list(cases), "test-batch", now=NOW, quiet=QUIET)
    assert result.skipped == {t: "no_offers" for t, (_, _, e) in cases.items() if not e}
    messages = {m["payload"]["properties"]["checkout_token"]: m for m in result.messages}
    assert len(messages) >= 5
    for token, message in messages.items():
        person, cart, expected = cases[token]
        assert [o["product_id"] for o in message["payload"]["properties"]["offers"]] == expected
        assert message["person_id"] == person["person_id"]
        assert message["idempotency_key"] == f"cart_abandonment:{token}"
        assert (message["destination"], message["kind"], message["campaign_id"]) == ("esp", "cart_abandonment", "cart_abandonment")
        assert message["payload"]["esp_profile_id"] in person["profiles"]
        assert message["payload"]["properties"]["cart_product_ids"] == cart
        assert message["trigger_received_at"] == NOW - timedelta(hours=2)
        codes = {o["discount_code"] for o in message["payload"]["properties"]["offers"]}
        assert codes == {offers.discount_code(token)} and token not in offers.discount_code(token)
        assert re.fullmatch(r"JW[A-Z2-7]{12}", offers.discount_code(token))
        assert {o["discount_percent"] for o in message["payload"]["properties"]["offers"]} == {10}
        assert "@" not in json.dumps(message["payload"])  # ids only, no e-mail
    assert len({offers.discount_code(t) for t in cases}) == len(cases)  # one code per checkout


def test_who_gets_no_message_and_why(serving, small_world):
    everyone = people(serving)
    holdout = [p for p in everyone if p["consent"] and p["profiles"] and held_out(p)]
    no_consent = [p for p in everyone if not p["consent"]]
    ok = [p for p in everyone if eligible(p)]
    assert holdout and no_consent and len(ok) >= 3
    cart = [str(PRODUCT_ID_BASE + 1)]
    at = NOW - timedelta(hours=1)
    checkout("held-out", holdout[0]["customers"][0], cart, at)
    checkout("no-consent", no_consent[0]["customers"][0], cart, at)
    checkout("unknown", "999999999", cart, at)
    checkout("guest", None, cart, at)
    checkout("erased", ok[0]["customers"][0], cart, at)
    store.suppress(ok[0]["person_id"], "all", "erased")
    checkout("unsubscribed", ok[1]["customers"][0], cart, at)
    store.suppress(ok[1]["person_id"], "email_marketing", "unsubscribed")
    checkout("sent", ok[2]["customers"][0], cart, at)
    result = offers.plan(["held-out", "no-consent", "unknown", "guest", "erased", "unsubscribed", "sent"], "b", now=NOW, quiet=QUIET)
    assert result.skipped == {
        "held-out": "holdout", "no-consent": "no_consent", "unknown": "unknown_person", "guest": "unknown_person",
        "erased": "suppressed", "unsubscribed": "suppressed",
    }  # fmt: skip
    assert [m["person_id"] for m in result.messages] == [ok[2]["person_id"]]
    assert result.reasons() == {"holdout": 1, "no_consent": 1, "suppressed": 2, "unknown_person": 2}


def test_every_holdout_member_is_never_messaged(serving):
    members = [p for p in people(serving) if p["consent"] and p["profiles"] and held_out(p)]
    assert members
    for n, person in enumerate(members):
        checkout(f"h{n}", person["customers"][0], [str(PRODUCT_ID_BASE + 2)], NOW - timedelta(hours=3))
    result = offers.plan([f"h{n}" for n in range(len(members))], "b", now=NOW, quiet=QUIET)
    assert result.messages == [] and set(result.skipped.values()) == {"holdout"}


def test_the_frequency_cap_counts_the_last_seven_days_of_the_outbox(serving):
    person = next(p for p in people(serving) if eligible(p))
    _, cap = offers.campaign()
    assert cap >= 1

    def earlier(n, age):
        store.enqueue([{
            "idempotency_key": f"campaign:x:{person['person_id']}:{n}", "destination": "esp", "kind": "campaign",
            "campaign_id": "x", "person_id": person["person_id"], "batch_id": "old", "payload": {}, "created_at": NOW - age,
        }])  # fmt: skip

    for n in range(cap):
        earlier(n, timedelta(days=8))  # older than a week: they do not count
    cart = [str(PRODUCT_ID_BASE + 3)]
    checkout("a", person["customers"][0], cart, NOW - timedelta(hours=1))
    assert offers.plan(["a"], "b", now=NOW, quiet=QUIET).skipped == {}
    for n in range(cap):
        earlier(cap + n, timedelta(days=6))
    assert offers.plan(["a"], "b", now=NOW, quiet=QUIET).skipped == {"a": "frequency_cap"}


def test_two_carts_of_one_person_in_one_batch_count_against_the_cap(serving):
    person = next(p for p in people(serving) if eligible(p))
    _, cap = offers.campaign()
    tokens = [f"c{n}" for n in range(cap + 1)]
    for token in tokens:
        checkout(token, person["customers"][0], [str(PRODUCT_ID_BASE + 4)], NOW - timedelta(hours=1))
    result = offers.plan(tokens, "b", now=NOW, quiet=QUIET)
    assert len(result.messages) == cap and list(result.skipped.values()) == ["frequency_cap"]


def test_the_quiet_period_an_order_and_a_completed_checkout(serving):
    person = next(p for p in people(serving) if eligible(p))
    customer, cart = person["customers"][0], [str(PRODUCT_ID_BASE + 5)]
    checkout("recent", customer, cart, NOW - timedelta(seconds=QUIET - 60))
    checkout("bought", customer, cart, NOW - timedelta(hours=2))
    order("bought", customer, NOW - timedelta(hours=1))
    checkout("done", customer, cart, NOW - timedelta(hours=2), completed_at=(NOW - timedelta(hours=2)).isoformat())
    checkout("updated", customer, cart, NOW - timedelta(hours=2))
    checkout("updated", customer, cart, NOW - timedelta(seconds=60))  # a later update restarts the wait
    result = offers.plan(["recent", "bought", "done", "updated"], "b", now=NOW, quiet=QUIET)
    assert result.skipped == {"recent": "quiet", "bought": "ordered", "done": "completed", "updated": "quiet"}
    later = offers.plan(["recent", "updated"], "b", now=NOW + timedelta(seconds=QUIET), quiet=QUIET)
    assert later.skipped == {} and len(later.messages) == 2


# --- Dagster: the sensor and the job ----------------------------------------------------------------------


def tick(instance, cursor):
    from orchestration.defs.activation import cart_abandonment_sensor

    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = cart_abandonment_sensor(context)
    return result, context.cursor


def test_the_sensor_launches_a_checkout_once_after_its_quiet_period(serving, monkeypatch):
    monkeypatch.setenv(offers.QUIET_SECONDS_ENV, "600")
    person = next(p for p in people(serving) if eligible(p))
    customer, cart = person["customers"][0], [str(PRODUCT_ID_BASE + 6)]
    with dg.instance_for_test() as instance:
        checkout("quiet-one", customer, cart, datetime.now(timezone.utc) - timedelta(seconds=300))
        checkout("due-one", customer, cart, datetime.now(timezone.utc) - timedelta(seconds=900))
        checkout("ordered-one", customer, cart, datetime.now(timezone.utc) - timedelta(seconds=300))
        order("ordered-one", customer, datetime.now(timezone.utc) - timedelta(seconds=200))

        first, cursor = tick(instance, None)
        assert isinstance(first, dg.RunRequest)
        assert first.run_config["ops"]["exports__cart_abandonment_batch"]["config"]["checkout_tokens"] == ["due-one"]
        state = json.loads(cursor)
        assert set(state["pending"]) == {"quiet-one"} and state["event_id"] == 4

        again, _ = tick(instance, None)  # a tick that runs again from the old cursor: the same run key
        assert isinstance(again, dg.RunRequest) and again.run_key == first.run_key

        second, cursor2 = tick(instance, cursor)  # nothing new, nothing quiet long enough: no run
        assert isinstance(second, dg.SkipReason) and json.loads(cursor2) == state

        monkeypatch.setenv(offers.QUIET_SECONDS_ENV, "60")
        third, cursor3 = tick(instance, cursor2)
        assert isinstance(third, dg.RunRequest) and third.run_key != first.run_key
        assert third.run_config["ops"]["exports__cart_abandonment_batch"]["config"]["checkout_tokens"] == ["quiet-one"]
        assert json.loads(cursor3)["pending"] == {}
        assert isinstance(tick(instance, cursor3)[0], dg.SkipReason)


def test_the_job_writes_the_batch_held_then_releases_it(serving):
    from orchestration.defs.activation import (
        BATCH_OP, cart_abandonment_batch, cart_abandonment_job, cart_abandonment_release,
    )  # fmt: skip

    everyone = people(serving)
    sent = [p for p in everyone if eligible(p)][:2]
    member = next(p for p in everyone if p["consent"] and p["profiles"] and held_out(p))
    for n, person in enumerate([*sent, member]):
        checkout(f"job-{n}", person["customers"][0], [str(PRODUCT_ID_BASE + 7 + n)], NOW - timedelta(hours=1))
    run_config = {"ops": {BATCH_OP: {"config": {"checkout_tokens": ["job-0", "job-1", "job-2"]}}}}
    with dg.instance_for_test() as instance:
        batch_run = dg.materialize([cart_abandonment_batch], run_config=run_config, instance=instance)
        assert batch_run.success
        metadata = batch_run.asset_materializations_for_node(BATCH_OP)[0].metadata
        batch_id = metadata["batch_id"].value
        assert batch_id == f"cart_abandonment_batch:{batch_run.run_id}"
        assert metadata["messages"].value == 2 and metadata["skipped/holdout"].value == 1
        rows = store.batch(batch_id)
        assert {r["person_id"] for r in rows} == {p["person_id"] for p in sent}
        assert all(r["released_at"] is None for r in rows)  # held until validated

        release_run = dg.materialize([cart_abandonment_batch, cart_abandonment_release], instance=instance,
                                     selection=[cart_abandonment_release.key])  # fmt: skip
        assert release_run.success
        assert all(r["released_at"] is not None for r in store.batch(batch_id))

        whole = dg.materialize([cart_abandonment_batch, cart_abandonment_release], run_config=run_config, instance=instance)
        assert whole.success  # the same checkouts again: their keys exist, nothing new is written
        again = whole.asset_materializations_for_node(BATCH_OP)[0].metadata
        assert (again["messages"].value, again["planned"].value) == (0, 2)
        assert len(store.batch(f"cart_abandonment_batch:{whole.run_id}")) == 0
    defs = dg.Definitions(assets=[cart_abandonment_batch, cart_abandonment_release], jobs=[cart_abandonment_job])
    assert defs.resolve_job_def("cart_abandonment_job").executor_def.name == "in_process"


def test_the_batch_passes_its_blocking_export_check_and_is_released(serving):
    """With the GX export check (orchestration.lib.gx) in the job: a valid batch passes it and is released."""
    pytest.importorskip("orchestration.lib.gx")
    from orchestration.defs.activation import (
        BATCH_KEY, BATCH_OP, cart_abandonment_batch, cart_abandonment_batch_valid, cart_abandonment_release,
    )  # fmt: skip

    assert cart_abandonment_batch_valid is not None
    person = next(p for p in people(serving) if eligible(p))
    checkout("gx-0", person["customers"][0], [str(PRODUCT_ID_BASE + 8)], NOW - timedelta(hours=1))
    run_config = {"ops": {BATCH_OP: {"config": {"checkout_tokens": ["gx-0"]}}}}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [cart_abandonment_batch, cart_abandonment_release, cart_abandonment_batch_valid], run_config=run_config,
            instance=instance, raise_on_error=False,
        )
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations() if e.asset_key == BATCH_KEY}
        failed = [e.metadata.get("failed") for e in result.get_asset_check_evaluations()]
        assert checks == {"export_batch_valid": True}, failed
        assert result.success
        batch_id = result.asset_materializations_for_node(BATCH_OP)[0].metadata["batch_id"].value
        assert [r["released_at"] is not None for r in store.batch(batch_id)] == [True]
