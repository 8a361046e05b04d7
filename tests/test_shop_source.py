"""The shop source against the demo shop, row for row with the generator's world: each failure of issue 5's
"Why" list that concerns the shop is injected into the shop's data (or its answers) and must not lose,
duplicate or silently null anything."""

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import duckdb
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import pipelines
from ingestion.demo_world.api_server import Response, error
from ingestion.demo_world.apis import shop as shop_app
from ingestion.demo_world.generator import shop_time
from ingestion.sources import _http
from ingestion.sources import shop as shop_module
from ingestion.sources._contracts import normalize_identifier, normalize_text

from .conftest import count

TABLES = ("customers", "orders", "orders__lines", "abandoned_checkouts", "abandoned_checkouts__lines", "events", "reviews",
          "products", "products__variants")


def utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def recent(minutes=10):
    """A moment just past, in the shop's offset: later than anything in the world, never in the future."""
    return shop_time(datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes))


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Transient faults are still retried, with shorter waits than in production."""
    monkeypatch.setattr(shop_module, "http_session", lambda: _http.http_session(backoff=0.05, max_delay=1, max_attempts=10))


class Shop:
    def __init__(self, systems, tmp_path, name="w"):
        self.systems, self.api = systems, systems / "api" / "shop"
        self.warehouse, self.pipelines_dir = tmp_path / f"{name}.duckdb", tmp_path / f"dlt-{name}"

    def read(self, table):
        return json.loads((self.api / f"{table}.json").read_text())

    def write(self, table, rows):
        (self.api / f"{table}.json").write_text(json.dumps(rows))

    def load(self, faults=0.0, **options):
        with pipelines.source_endpoints(self.systems, faults=faults) as endpoints:
            source = shop_module.shop_source(**endpoints.api("shop"), **options)
            pipeline = pipelines.make_pipeline("shop", self.warehouse, self.pipelines_dir)
            info = pipeline.run(source, loader_file_format="parquet")
        assert not info.has_failed_jobs
        return info

    def cursor(self, resource):
        state = pipelines.make_pipeline("shop", self.warehouse, self.pipelines_dir).state
        return utc(state["sources"]["shop"]["resources"][resource]["jw_cursor"])

    def rows(self, sql):
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    def quarantine(self, table):
        return self.rows(f"select record_key, source_position, reason from shop.{table}__quarantine order by 1")


@pytest.fixture()
def shop(small_systems, tmp_path):
    return Shop(small_systems, tmp_path)


def world_rows(world):
    shop = world.shop
    return {
        "customers": {(c["id"], normalize_identifier(c["email"]), utc(c["updated_at"])) for c in shop["customers"]},
        "orders": {
            (o["id"], o["customer"]["id"], Decimal(o["total_price"]), o["financial_status"], utc(o["updated_at"]))
            for o in shop["orders"]
        },
        "orders__lines": {(o["id"], i["id"], i["quantity"], Decimal(i["price"])) for o in shop["orders"] for i in o["line_items"]},
        "abandoned_checkouts": {(c["id"], c["customer"]["id"], Decimal(c["total_price"])) for c in shop["abandoned_checkouts"]},
        "abandoned_checkouts__lines": {
            (c["id"], i["id"], i["quantity"], Decimal(i["price"])) for c in shop["abandoned_checkouts"] for i in c["line_items"]
        },
        # the collector delivers some events twice: merged on event_id, the copy it received last stays
        "events": {
            (e["event_id"], e["user_id"], utc(e["derived_tstamp"]), utc(e["collector_tstamp"]))
            for e in {e["event_id"]: e for e in sorted(shop["events"], key=lambda e: e["collector_tstamp"])}.values()
        },
        "reviews": {
            (r["id"], r["customer"]["id"], r["product_id"], r["rating"], r["body"], utc(r["updated_at"])) for r in shop["reviews"]
        },
        "products": {(p["id"], p["product_type"], utc(p["updated_at"])) for p in shop["products"]},
        "products__variants": {
            (p["id"], v["id"], Decimal(v["price"]), v["inventory_quantity"]) for p in shop["products"] for v in p["variants"]
        },
    }


WAREHOUSE_ROWS = {
    "customers": "select id, email, updated_at from shop.customers",
    "orders": "select id, customer_id, total_price, financial_status, updated_at from shop.orders",
    "orders__lines": "select order_id, id, quantity, price from shop.orders__lines",
    "abandoned_checkouts": "select id, customer_id, total_price from shop.abandoned_checkouts",
    "abandoned_checkouts__lines": "select checkout_id, id, quantity, price from shop.abandoned_checkouts__lines",
    "events": "select event_id, user_id, derived_tstamp, collector_tstamp from shop.events",
    "reviews": "select id, customer_id, product_id, rating, body, updated_at from shop.reviews",
    "products": "select id, product_type, updated_at from shop.products",
    "products__variants": "select product_id, id, price, inventory_quantity from shop.products__variants",
}


def warehouse_rows(shop):
    result = {}
    for table, sql in WAREHOUSE_ROWS.items():
        rows = shop.rows(sql)
        assert len(rows) == len(set(rows)), f"duplicates in {table}"
        result[table] = {tuple(v.astimezone(timezone.utc) if isinstance(v, datetime) else v for v in r) for r in rows}
    return result


def no_orphan_lines(shop):
    return shop.rows("select count(*) from shop.orders__lines l anti join shop.orders o on o.id = l.order_id")[0][0] == 0


def test_a_clean_load_is_the_world_row_for_row_and_a_reload_adds_nothing(shop, small_world):
    shop.load()
    expected = world_rows(small_world)
    assert warehouse_rows(shop) == expected
    assert shop.rows("select count(*) from information_schema.tables where table_name like '%quarantine'") == [(0,)]
    assert shop.rows("select count(*) from information_schema.columns where column_name like '%\\_\\_v\\_%' escape '\\'") == [(0,)]

    shop.load()  # the lag window is read again: merged on the keys, nothing doubles
    assert warehouse_rows(shop) == expected


def test_a_price_that_is_not_money_is_quarantined_and_revenue_stays_exact(shop, small_world):
    orders = shop.read("orders")
    bad = orders[5]
    bad["total_price"] = "abc"
    shop.write("orders", orders)
    shop.load()

    assert shop.quarantine("orders") == [(str(bad["id"]), "orders page 1#5", "total_price: expected a decimal")]
    assert "abc" not in str(shop.rows("select * from shop.orders__quarantine"))
    good = [o for o in small_world.shop["orders"] if o["id"] != bad["id"]]
    assert shop.rows("select count(*) from shop.orders where total_price is null") == [(0,)]
    revenue = sum(Decimal(o["total_price"]) for o in good if o["financial_status"] != "refunded")
    assert shop.rows("select sum(total_price) from shop.orders where financial_status <> 'refunded'") == [(revenue,)]
    assert shop.rows(f"select count(*) from shop.orders__lines where order_id = {bad['id']}") == [(0,)]
    assert count(shop.warehouse, "shop.orders") == len(good)


def test_a_review_with_stars_out_of_range_or_no_number_is_quarantined_without_its_text(shop, small_world):
    reviews = shop.read("reviews")
    last = len(reviews) - 1
    assert last >= 2
    reviews[0]["rating"], reviews[last]["rating"] = 6, "five"
    shop.write("reviews", reviews)
    shop.load()
    assert shop.quarantine("reviews") == sorted([
        (str(reviews[0]["id"]), "reviews page 1#0", "rating: must be between 1 and 5"),
        (str(reviews[last]["id"]), f"reviews page 1#{last}", "rating: expected an integer"),
    ])
    assert reviews[0]["body"] not in str(shop.rows("select * from shop.reviews__quarantine"))
    assert count(shop.warehouse, "shop.reviews") == len(small_world.shop["reviews"]) - 2
    assert count(shop.warehouse, "shop.reviews", "rating not between 1 and 5") == 0


def test_a_bad_date_is_quarantined_never_null(shop, small_world):
    customers = shop.read("customers")
    customers[3]["created_at"] = "2026-02-30T10:00:00+01:00"
    shop.write("customers", customers)
    shop.load()
    assert shop.quarantine("customers") == [(str(customers[3]["id"]), "customers page 1#3", "created_at: expected an ISO-8601 timestamp")]
    assert count(shop.warehouse, "shop.customers") == len(small_world.shop["customers"]) - 1
    assert count(shop.warehouse, "shop.customers", "created_at is null") == 0


def test_an_order_from_2099_is_quarantined_and_later_changes_still_arrive(shop, small_world):
    shop.load()
    cursor = shop.cursor("orders")
    assert cursor == max(utc(o["updated_at"]) for o in small_world.shop["orders"])
    orders = shop.read("orders")
    orders[0]["updated_at"] = "2099-01-01T00:00:00+01:00"
    shop.write("orders", orders)
    shop.load()
    assert shop.quarantine("orders") == [(str(orders[0]["id"]), "orders page 1#0", "updated_at: in the future beyond the tolerance")]
    assert shop.cursor("orders") == cursor  # not moved to 2099

    orders[1].update(updated_at=recent(), financial_status="refunded")
    shop.write("orders", orders)
    shop.load()
    assert shop.rows(f"select financial_status from shop.orders where id = {orders[1]['id']}") == [("refunded",)]
    assert shop.cursor("orders") == utc(orders[1]["updated_at"])
    assert len(shop.quarantine("orders")) == 1  # quarantined again on each read, but one row


def test_a_change_at_the_cursor_that_keeps_its_updated_at_arrives(shop):
    shop.load()
    orders = shop.read("orders")
    last = max(orders, key=lambda o: utc(o["updated_at"]))
    assert utc(last["updated_at"]) == shop.cursor("orders")
    last["financial_status"] = "refunded" if last["financial_status"] == "paid" else "paid"
    shop.write("orders", orders)
    shop.load()
    assert shop.rows(f"select financial_status from shop.orders where id = {last['id']}") == [(last["financial_status"],)]


def new_order(order_id, customer_id, updated_at, price="10.00", lines=1):
    return {
        "id": order_id,
        "customer": {"id": customer_id},
        "financial_status": "paid",
        "fulfillment_status": "fulfilled",
        "currency": "EUR",
        "total_price": f"{Decimal(price) * lines:.2f}",
        "line_items": [
            {"id": order_id * 10 + n, "product_id": 7000000001, "variant_id": 40000000001, "sku": "SKU-00001", "quantity": 1, "price": price}
            for n in range(1, lines + 1)
        ],
        "created_at": updated_at,
        "updated_at": updated_at,
        "closed_at": updated_at,
        "cancelled_at": None,
    }


def test_late_rows_older_than_the_cursor_arrive_within_the_lag_window(shop, small_world):
    shop.load()
    cursor = shop.cursor("orders")
    late = [new_order(900_001 + n, 100_001, shop_time(cursor - timedelta(minutes=30 + n))) for n in range(5)]
    shop.write("orders", shop.read("orders") + late)
    shop.load()
    assert count(shop.warehouse, "shop.orders", "id > 900000") == 5
    assert count(shop.warehouse, "shop.orders") == len(small_world.shop["orders"]) + 5


def test_cursors_compare_as_utc_timestamps_whatever_the_offset(shop):
    shop.load(lag_seconds=0)
    cursor = shop.cursor("orders")
    # two hours after the cursor, written in New York time: as text it sorts before the cursor
    later = (cursor + timedelta(hours=2)).astimezone(timezone(timedelta(hours=-4))).isoformat()
    assert later < shop_time(cursor) and later[:19] < cursor.isoformat()[:19]
    shop.write("orders", shop.read("orders") + [new_order(900_100, 100_001, later)])
    shop.load(lag_seconds=0)
    assert count(shop.warehouse, "shop.orders", "id = 900100") == 1
    assert shop.cursor("orders") == cursor + timedelta(hours=2)


@pytest.mark.parametrize("fault", ["the data key missing", "a permanent 500"])
def test_a_failed_run_keeps_every_cursor_and_the_next_run_loads_everything_once(shop, small_world, monkeypatch, fault):
    shop.load()
    before = {r: shop.cursor(r) for r in ("customers", "orders", "abandoned_checkouts", "events")}
    at = recent(30)
    added = [new_order(900_001 + n, 100_001 + n % 200, at, lines=1 + n % 3) for n in range(1_200)]
    shop.write("orders", shop.read("orders") + added)

    handle, calls = shop_app.App.handle, []

    def broken(self, request):
        response = handle(self, request)
        if request.path.endswith("/orders.json"):
            if request.query not in calls:
                calls.append(request.query)
            if len(calls) >= 3 and request.query == calls[2]:  # the third page of orders, every time
                return Response(200, {"order": response.body["orders"]}, response.headers) if "data" in fault else error(500, "boom")
        return response

    monkeypatch.setattr(shop_app.App, "handle", broken)
    with pytest.raises(PipelineStepFailed):
        shop.load(page_size=100)
    assert {r: shop.cursor(r) for r in before} == before
    assert count(shop.warehouse, "shop.orders") == len(small_world.shop["orders"])

    monkeypatch.setattr(shop_app.App, "handle", handle)
    shop.load(page_size=100)
    expected = world_rows(small_world)
    expected["orders"] |= {(o["id"], o["customer"]["id"], Decimal(o["total_price"]), "paid", utc(at)) for o in added}
    expected["orders__lines"] |= {(o["id"], i["id"], 1, Decimal("10.00")) for o in added for i in o["line_items"]}
    assert warehouse_rows(shop) == expected  # 1,200 more orders and 2,400 lines, each exactly once
    assert shop.cursor("orders") == utc(at)


def test_a_duplicate_key_in_one_batch_keeps_the_newest_version(shop):
    orders = shop.read("orders")
    newest = dict(orders[7], total_price="2.00", line_items=[], updated_at=recent())
    orders.insert(7, newest)  # the newest first, the older right after it, in the same page
    customers = shop.read("customers")
    customers.append(dict(customers[2], email="older@mail.test", updated_at="2026-09-01T00:00:00+02:00"))
    shop.write("orders", orders)
    shop.write("customers", customers)
    shop.load()
    assert shop.rows(f"select total_price from shop.orders where id = {newest['id']}") == [(Decimal("2.00"),)]
    assert shop.rows(f"select count(*) from shop.orders__lines where order_id = {newest['id']}") == [(0,)]
    assert shop.rows(f"select email from shop.customers where id = {customers[2]['id']}") == [
        (normalize_identifier(customers[2]["email"]),)
    ]


def test_an_order_line_never_lands_without_its_order(shop, small_world):
    """Lines are nested in their order: a broken line quarantines its order whole (lines with it, with the
    reason), an order whose new version is quarantined keeps its last good version and lines, and once the
    order is fixed it arrives with every line. Never a line without its order, never a line dropped unseen."""
    shop.load()
    orders = shop.read("orders")
    broken, replaced = orders[10], orders[11]
    broken["line_items"][0]["quantity"] = "two"
    broken["updated_at"] = recent(20)
    replaced.update(line_items="three lines", updated_at=recent(20))
    shop.write("orders", orders)
    shop.load()
    quarantined = shop.quarantine("orders")
    assert [(key, reason) for key, _, reason in quarantined] == [
        (str(broken["id"]), "line_items[0].quantity: expected an integer"),
        (str(replaced["id"]), "line_items: expected a list"),
    ]
    assert all(re.fullmatch(r"orders page 1#\d+", position) for _, position, _ in quarantined)
    original = {o["id"]: o for o in small_world.shop["orders"]}
    for order in (broken, replaced):  # the last good version stays, with its lines
        lines = shop.rows(f"select count(*) from shop.orders__lines where order_id = {order['id']}")[0][0]
        assert lines == len(original[order["id"]]["line_items"])
    assert no_orphan_lines(shop)

    broken["line_items"][0]["quantity"] = 2
    broken["line_items"].append({**broken["line_items"][0], "id": broken["id"] * 10 + 9})
    broken["updated_at"] = recent(5)
    shop.write("orders", orders)
    shop.load()
    assert shop.rows(f"select id, quantity from shop.orders__lines where order_id = {broken['id']} order by id") == [
        (i["id"], i["quantity"]) for i in broken["line_items"]
    ]
    assert no_orphan_lines(shop)


def dbt(warehouse, target, *args):
    from orchestration.lib.dbt import run_dbt

    result = run_dbt(list(args), warehouse, target)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def test_erased_customers_leave_every_model_and_pasted_emails_link_to_their_person(shop, small_world, tmp_path):
    """Phase 1: the shop still has the customers it later deletes or redacts (and nothing is erased yet);
    phase 2: the shop as the world ends, its Events API reporting the erasures. Then the whole dbt graph."""
    deleted = small_world.shop["deleted_customers"]
    erased_ids = {c["id"] for c in deleted}
    assert {e["verb"] for e in small_world.shop["customer_events"]} == {"destroy", "redact"}
    shop.write("customers", small_world.shop["customers"] + deleted)
    shop.write("customer_events", [])
    for name in pipelines.SOURCE_FACTORIES:
        with pipelines.source_endpoints(shop.systems) as endpoints:
            info = pipelines.load(name, endpoints, shop.warehouse, shop.pipelines_dir)
        assert not info.has_failed_jobs
    assert count(shop.warehouse, "shop.customers") == len(small_world.shop["customers"]) + len(deleted)

    shop.write("customers", small_world.shop["customers"])
    shop.write("customer_events", small_world.shop["customer_events"])
    shop.load()
    ids = ",".join(map(str, erased_ids))
    assert count(shop.warehouse, "shop.customers", f"id in ({ids})") == 0
    assert count(shop.warehouse, "shop.customers") == len(small_world.shop["customers"])
    assert count(shop.warehouse, "shop.customers", "deleted_at is not null") == 0
    shop.load()  # the erasures are read again in the lag window: still gone, nothing else touched
    assert count(shop.warehouse, "shop.customers") == len(small_world.shop["customers"])

    dbt(shop.warehouse, tmp_path / "dbt", "seed")  # the identity blocklist
    dbt(shop.warehouse, tmp_path / "dbt", "run")
    as_text = ",".join(f"'{i}'" for i in erased_ids)
    assert count(shop.warehouse, "pii.stg_shop__customers", f"shop_customer_id in ({as_text})") == 0
    assert count(
        shop.warehouse, "intermediate.int_identity__identifier_map", f"identifier_type = 'shop_customer' and identifier_value in ({as_text})"
    ) == 0
    assert count(shop.warehouse, "marts.customer_360", f"primary_shop_customer_id in ({as_text})") == 0

    # e-mails pasted with a tab or a zero-width space: canonical in staging, and on their person
    pasted = {c["id"]: c["email"] for c in small_world.shop["customers"] if re.search(r"[\t\u200b]", c["email"])}
    assert len(pasted) >= 10
    staged = dict(shop.rows(f"select shop_customer_id, email_normalized from pii.stg_shop__customers where shop_customer_id in ({','.join(repr(str(i)) for i in pasted)})"))
    assert staged == {str(i): re.sub(r"[\s\u200b]", "", e).lower() for i, e in pasted.items()}
    truth = shop.systems / "ground_truth.parquet"
    split = shop.rows(
        f"""
        with j as (
            select t.identifier_type, t.identifier_value, t.person_id, m.person_id as person_key
            from read_parquet('{truth}') t
            join pii.person_identifiers m using (identifier_type, identifier_value)
            where t.identifier_type in ('shop_customer', 'esp_contact')
        )
        -- the ESP contact on the very address the customer pasted (a household head's ESP contact may be a
        -- family inbox: Splink's business, not this test's)
        select count(*), count(distinct a.identifier_value) from j a
        join pii.stg_shop__customers c on c.shop_customer_id = a.identifier_value
        join j b on a.person_id = b.person_id and b.identifier_type = 'esp_contact' and b.identifier_value = c.email_normalized
        where a.identifier_type = 'shop_customer' and a.identifier_value in ({','.join(repr(str(i)) for i in pasted)})
          and a.person_key <> b.person_key
        """
    )
    assert split == [(0, 0)]


def test_a_load_through_injected_faults_equals_a_clean_load(small_systems, tmp_path):
    clean, faulty = Shop(small_systems, tmp_path, "clean"), Shop(small_systems, tmp_path, "faulty")
    clean.load()
    faulty.load(faults=0.2, page_size=50)
    assert warehouse_rows(faulty) == warehouse_rows(clean)


def test_a_wrong_token_is_a_clear_error_that_never_shows_the_token(small_systems, tmp_path, caplog):
    token = "shpat_not-the-right-one-1234"
    with pipelines.source_endpoints(small_systems) as endpoints:
        source = shop_module.shop_source(base_url=endpoints.shop_api_url, access_token=token)
        with pytest.raises(PipelineStepFailed) as failure:
            pipelines.make_pipeline("shop", tmp_path / "w.duckdb", tmp_path / "dlt").run(source)
    chain, exc = [], failure.value
    while exc is not None:
        chain.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    assert "401" in " ".join(chain)
    assert token not in " ".join(chain) and token not in caplog.text


def test_stg_shop__reviews_is_every_review_typed_row_for_row(shop, small_world, tmp_path):
    shop.load()
    dbt(shop.warehouse, tmp_path / "target", "build", "--select", "stg_shop__reviews", "stg_shop__customers", "--indirect-selection", "cautious")
    expected = {
        (
            str(r["id"]), str(r["customer"]["id"]), str(r["product_id"]), r["rating"], r["title"], normalize_text(r["body"]),
            utc(r["created_at"]), utc(r["updated_at"]),
        )
        for r in small_world.shop["reviews"]
    }
    got = shop.rows(
        "select review_id, shop_customer_id, product_id, rating, title, text, created_at, updated_at from staging.stg_shop__reviews"
    )
    assert {tuple(v.astimezone(timezone.utc) if isinstance(v, datetime) else v for v in r) for r in got} == expected
    assert len(got) == len(expected) > 0
    types = dict(shop.rows(
        "select column_name, data_type from information_schema.columns where table_name = 'stg_shop__reviews'"
    ))
    assert types == {
        "review_id": "VARCHAR", "shop_customer_id": "VARCHAR", "product_id": "VARCHAR", "rating": "INTEGER",
        "title": "VARCHAR", "text": "VARCHAR", "created_at": "TIMESTAMP WITH TIME ZONE", "updated_at": "TIMESTAMP WITH TIME ZONE",
    }
