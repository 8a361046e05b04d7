"""The journeys and experience pages' marts (marts.conversion_paths, funnel_daily, sentiment_daily) on the small
world's full build, against the demo world's truth: its orders and receipts, its storefront visits (the journeys
truth: which visit each event belongs to) and its texts (the text truth: language)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from .conftest import rows

STAGES = ("product", "cart", "checkout")


@pytest.fixture(scope="module")
def built(small_build):
    return small_build.built


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_conversion_paths_count_every_true_purchase_once(built, small_world):
    paid = [o for o in small_world.shop["orders"] if o["financial_status"] not in ("refunded", "voided")]
    by_channel = dict(rows(built, "select purchase_channel, sum(conversions) from marts.conversion_paths group by 1"))
    assert by_channel == {"online": len(paid), "pos": len(small_world.loyalty["receipts"])}
    revenue = rows(built, "select purchase_channel, sum(revenue) from marts.conversion_paths group by 1")
    assert float(dict(revenue)["online"]) == pytest.approx(sum(float(o["total_price"]) for o in paid))


def test_conversion_paths_agree_with_the_attribution_paths(built):
    """A path's first step is the channel first_touch credits, its last the one last_touch credits; its
    touchpoints are the attribution path's."""
    for model, column in (("first_touch", "first_channel"), ("last_touch", "last_channel")):
        credited = dict(rows(built, f"""
            select channel, sum(credit) from marts.attribution
            where model = '{model}' and not is_direct group by 1"""))
        paths = dict(rows(built, f"""
            select {column}, sum(conversions) from marts.conversion_paths where path <> '(direct)' group by 1"""))
        assert paths and {k: pytest.approx(float(v)) for k, v in credited.items()} == {k: float(v) for k, v in paths.items()}
    touches = rows(built, "select count(*) filter (where not is_direct), count(distinct conversion_id) filter (where is_direct) "
                          "from marts.attribution where model = 'linear'")[0]
    assert rows(built, "select sum(touchpoints), sum(conversions) filter (where path = '(direct)') "
                       "from marts.conversion_paths")[0] == touches
    # capped paths exist in this world and keep their ends
    capped = rows(built, "select path, steps from marts.conversion_paths where steps > 5")
    assert capped and all(len(path.split(" > ")) == 5 and path.split(" > ")[2] == "..." for path, _ in capped)
    # no step repeats the one before it
    for (path,) in rows(built, "select distinct path from marts.conversion_paths"):
        steps = path.split(" > ")
        assert all(a != b for a, b in zip(steps, steps[1:])), path


def test_funnel_daily_against_the_true_visits(built, small_world):
    """Each true visit (journeys truth) counted at the steps it reached, against the sessions' funnel: sessions
    group a person's visits less than 30 minutes apart, so the warehouse may count a little fewer, never more."""
    truth = {r["event_id"]: r for r in small_world.journeys}
    reached: dict[str, set[str]] = {}
    for event in {e["event_id"]: e for e in small_world.shop["events"]}.values():
        visit = reached.setdefault(truth[event["event_id"]]["visit_id"], set())
        if event["product_id"] is not None:
            visit.add("product")
        if event["event"] == "add_to_cart":
            visit.add("cart")
        if event["page_urlpath"] == "/checkout":
            visit.add("checkout")
    expected = {stage: sum(1 for v in reached.values() if v & set(STAGES[i:])) for i, stage in enumerate(STAGES)}
    paid = [o for o in small_world.shop["orders"] if o["financial_status"] not in ("refunded", "voided")]
    got = dict(zip(("product", "cart", "checkout", "order", "orders"), rows(built, """
        select sum(product_view_sessions), sum(add_to_cart_sessions), sum(checkout_sessions), sum(order_sessions),
            sum(orders)
        from marts.funnel_daily""")[0]))
    assert expected["checkout"] == len(small_world.shop["orders"]) + len(small_world.shop["abandoned_checkouts"])
    for stage in STAGES:
        assert 0.95 * expected[stage] <= got[stage] <= expected[stage], (stage, got[stage], expected[stage])
    assert got["orders"] == len(paid) and 0.95 * len(paid) <= got["order"] <= len(paid)
    # the days: sessions by start day add up to marts.journey_sessions'
    assert rows(built, "select sum(sessions) from marts.funnel_daily") == rows(built, "select count(*) from marts.journey_sessions")


def test_sentiment_daily_counts_every_true_text_by_day_and_language(built, small_world):
    expected = Counter((t["occurred_at"].date() if isinstance(t["occurred_at"], datetime) else at(t["occurred_at"]).date(),
                        t["language"] or "unknown") for t in small_world.text_truth)
    got = {(day, language): n for day, language, n in rows(built, """
        select date_day, language, sum(texts) from marts.sentiment_daily group by all""")}
    assert got == dict(expected)
    channels = dict(rows(built, "select channel, sum(texts) from marts.sentiment_daily group by 1"))
    assert channels.pop("shop") == sum(1 for t in small_world.text_truth if t["kind"] == "review")
    assert set(channels) <= {"facebook", "instagram", "tiktok", "x", "youtube"} and channels
