"""E-mail campaigns as experiments: the demo world's holdouts and their true effect, and marts.campaign_evaluation.

The generator holds out 10 % of each campaign's audience (a ``Received Control`` event, no e-mail) and gives the
treated a known causal effect (an extra online order with the campaign's probability within the window); its truth is
``World.campaign_truth`` (campaign_uplift_truth.parquet). The mart is read from the shared small build (3 campaigns,
about 20 held-out people each); the coverage of its intervals over the default world's 12 campaigns is tested in
test_pipeline.py (test_campaign_evaluation_intervals_cover_the_true_uplift).
"""

from collections import defaultdict
from datetime import datetime, timedelta

from ingestion.demo_world.generator import CAMPAIGN_HOLDOUT_SHARE, CAMPAIGN_WINDOW_DAYS, ESP_METRICS, normalize_email
from ingestion.sources._contracts import normalize_identifier
from tests.conftest import rows

KIND = {metric_id: kind for kind, (metric_id, _) in ESP_METRICS.items()}


def arms(world) -> dict[str, dict]:
    """Per campaign: the true persons sent to (with when their e-mail arrived) and held out, from the ESP's events."""
    person_of = {t["identifier_value"]: t["person_id"] for t in world.ground_truth if t["identifier_type"] == "esp_contact"}
    profile_person = {p["id"]: person_of[normalize_email(normalize_identifier(p["attributes"]["email"]))]
                      for p in world.esp["profiles"]}
    out: dict[str, dict] = defaultdict(lambda: {"treated": {}, "holdout": set(), "profiles": defaultdict(set)})
    for event in world.esp["events"]:
        campaign = event["attributes"]["event_properties"]["$message"]
        kind = KIND[event["relationships"]["metric"]["data"]["id"]]
        profile = event["relationships"]["profile"]["data"]["id"]
        out[campaign]["profiles"][kind].add(profile)
        person = profile_person[profile]
        if kind == "send":
            out[campaign]["treated"][person] = datetime.fromisoformat(event["attributes"]["datetime"])
        elif kind == "control":
            out[campaign]["holdout"].add(person)
    return out


def test_holdouts_get_no_email_and_their_share_is_the_generators(small_world):
    truth = {t["campaign_id"]: t for t in small_world.campaign_truth}
    assert set(truth) == {c["id"] for c in small_world.esp["campaigns"]}
    held = audience = 0
    for campaign, arm in arms(small_world).items():
        profiles = arm["profiles"]
        # a held-out profile has nothing else of that campaign: no send, open, click or unsubscribe
        assert not profiles["control"] & (profiles["send"] | profiles["open"] | profiles["click"] | profiles["unsubscribe"])
        assert profiles["open"] | profiles["click"] <= profiles["send"]
        assert (len(arm["treated"]), len(arm["holdout"])) == (truth[campaign]["treated_people"], truth[campaign]["holdout_people"])
        held += len(arm["holdout"])
        audience += len(arm["treated"]) + len(arm["holdout"])
    assert abs(held / audience - CAMPAIGN_HOLDOUT_SHARE) < 0.04  # 3 campaigns of ~200 people: 10 % +- 2 sd


def test_the_campaigns_extra_orders_go_to_treated_people_within_the_window(small_world):
    truth = {t["campaign_id"]: t for t in small_world.campaign_truth}
    extra = [t for t in small_world.value_transactions if t["source"] == "shop" and not t["in_process"]]
    assert len(extra) == sum(t["extra_orders"] for t in truth.values()) > 0
    windows = defaultdict(list)
    for campaign, arm in arms(small_world).items():
        for person, arrived in arm["treated"].items():
            windows[person].append((arrived, truth[campaign]["sent_at"] + timedelta(days=CAMPAIGN_WINDOW_DAYS)))
    for order in extra:  # a treated recipient's, after their e-mail, before the window closes
        assert any(lo <= order["purchased_at"] < hi for lo, hi in windows[order["person_id"]]), order["transaction_id"]
    paid = {str(o["id"]): o for o in small_world.shop["orders"] if o["financial_status"] == "paid"}
    assert {t["transaction_id"] for t in extra} <= set(paid)
    for t in truth.values():
        assert 0 <= t["true_uplift"] <= t["effect_probability"] and t["conversion_window_days"] == CAMPAIGN_WINDOW_DAYS


def _mart(warehouse) -> dict[str, dict]:
    columns = ("campaign_id", "treated_people", "holdout_people", "treated_converters", "holdout_converters",
               "uplift", "uplift_ci_low", "uplift_ci_high", "revenue_uplift", "revenue_uplift_ci_low",
               "revenue_uplift_ci_high", "sends", "opens", "clicks", "conversion_window_days")
    return {r[0]: dict(zip(columns, r)) for r in rows(warehouse, f"select {', '.join(columns)} from marts.campaign_evaluation")}


def test_treated_and_holdout_people_are_the_generators_where_identity_resolves(small_build, small_world):
    """Each arm's people: exactly the generator's, mapped to the warehouse's persons through their ESP address (a
    person the identity graph merged with another counts once, one it leaves unresolved not at all); that mapping
    resolves nearly every one of them alone."""
    mart = _mart(small_build.built)
    resolved = dict(rows(small_build.built, "select identifier_value, person_id from pii.person_identifiers "
                                           "where identifier_type = 'esp_contact'"))
    email_of = defaultdict(list)
    for t in small_world.ground_truth:
        if t["identifier_type"] == "esp_contact":
            email_of[t["person_id"]].append(t["identifier_value"])

    def persons(people) -> set[str]:
        return {resolved[e] for p in people for e in email_of[p] if e in resolved}

    for campaign, arm in arms(small_world).items():
        treated = persons(arm["treated"])
        holdout = persons(arm["holdout"]) - treated
        assert (mart[campaign]["treated_people"], mart[campaign]["holdout_people"]) == (len(treated), len(holdout))
        assert len(arm["treated"]) - 2 <= len(treated) <= len(arm["treated"])
        assert len(arm["holdout"]) - 1 <= len(holdout) <= len(arm["holdout"])
    sends = {c: r["sends"] for c, r in mart.items()}
    assert sends == {c: len([e for e in small_world.esp["events"] if e["relationships"]["metric"]["data"]["id"] == "RcvEml"
                             and e["attributes"]["event_properties"]["$message"] == c]) for c in sends}


def test_no_held_out_profile_got_an_email_in_the_warehouse(small_build):
    """Fails if a control group's profile has a send (or anything else) of the same campaign in staging."""
    both = rows(small_build.built, """
        select count(*) from pii.stg_esp__events as control
        join pii.stg_esp__events as other
            on control.campaign_id = other.campaign_id and control.esp_profile_id = other.esp_profile_id
        where control.event_type = 'control' and other.event_type != 'control'""")[0][0]
    assert both == 0
    held = rows(small_build.built, "select count(*) from pii.stg_esp__events where event_type = 'control'")[0][0]
    assert held > 0
    # and they are no touchpoints: a held-out person was not reached
    assert rows(small_build.built, "select count(*) from marts.touchpoints where touchpoint_type = 'email_control'")[0][0] == 0


def test_the_intervals_hold_their_estimate_and_mostly_the_truth(small_build, small_world):
    """Every interval holds its point estimate; the true uplift lies in the conversion interval of at least 2 of the 3
    campaigns (floor: with ~20 held-out people each interval covers with ~95 %, all three miss 2 or more with
    probability < 1 %; the coverage over 12 campaigns is tested on the default world)."""
    mart = _mart(small_build.built)
    truth = {t["campaign_id"]: t for t in small_world.campaign_truth}
    covered = 0
    for campaign, row in mart.items():
        assert row["uplift_ci_low"] <= row["uplift"] <= row["uplift_ci_high"]
        assert row["revenue_uplift_ci_low"] <= row["revenue_uplift"] <= row["revenue_uplift_ci_high"]
        assert row["conversion_window_days"] == truth[campaign]["conversion_window_days"]
        covered += row["uplift_ci_low"] <= truth[campaign]["true_uplift"] <= row["uplift_ci_high"]
    assert covered >= 2


def test_the_intervals_are_newcombes_and_welchs(small_build):
    """The mart's intervals against scipy's: Newcombe's hybrid score interval (from Wilson's, z = norm.ppf(0.975))
    from the mart's counts, and Welch's from each person's revenue in the window (scipy's ttest_ind with unequal
    variances; the mart's t quantile is a series expansion, hence the relative tolerance)."""
    import math

    import pytest
    from scipy import stats

    z = stats.norm.ppf(0.975)

    def wilson(k, n):
        p = k / n
        centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)

    revenue = defaultdict(lambda: {True: [], False: []})
    for campaign, _, treated, amount in rows(small_build.built, """
        with arms as (
            select events.campaign_id, ids.person_id,
                min(case when events.event_type = 'send' then events.occurred_at end) as sent
            from pii.stg_esp__events as events
            join intermediate.int_identity__identifier_map as ids
                on ids.identifier_type = 'esp_contact' and ids.identifier_value = events.email_hash
            where events.event_type in ('send', 'control') and ids.person_id is not null
            group by all
        )
        select arms.campaign_id, arms.person_id, arms.sent is not null, coalesce(sum(tx.amount), 0)::double
        from arms
        join staging.stg_esp__campaigns as campaigns using (campaign_id)
        left join intermediate.int_value__transactions as tx
            on tx.person_id = arms.person_id
            and tx.purchased_at >= coalesce(arms.sent, campaigns.sent_at)
            and tx.purchased_at < coalesce(arms.sent, campaigns.sent_at) + interval 7 day
        group by all"""):
        revenue[campaign][treated].append(amount)
    mart = rows(small_build.built, """
        select campaign_id, treated_converters, treated_people, holdout_converters, holdout_people, uplift_ci_low,
            uplift_ci_high, revenue_uplift_ci_low, revenue_uplift_ci_high from marts.campaign_evaluation""")
    assert len(mart) == len(revenue) > 0
    for campaign, k1, n1, k2, n2, low, high, revenue_low, revenue_high in mart:
        p1, p2 = k1 / n1, k2 / n2
        (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
        assert low == pytest.approx(p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), abs=1e-12)
        assert high == pytest.approx(p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), abs=1e-12)
        treated, held = revenue[campaign][True], revenue[campaign][False]
        assert (len(treated), len(held)) == (n1, n2)
        welch = stats.ttest_ind(treated, held, equal_var=False).confidence_interval(0.95)
        width = welch.high - welch.low  # the t quantile's expansion is off by < 0.2 % from 3 degrees of freedom on
        assert (revenue_low, revenue_high) == pytest.approx((welch.low, welch.high), abs=1e-3 * width)
