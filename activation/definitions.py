"""Segments and campaigns, read from the one place they are defined: the ``config.meta`` of the activation marts
in ``dbt_project/models/marts/activation/_activation__models.yml``.

dbt evaluates the segments and plans the campaigns from that YAML; the real-time path (cart abandonment), the
export assets and the delivery worker read the same file here, with ``yaml.safe_load`` and no dbt, so a campaign's
holdout share, priority or template can never differ between the planned and the triggered path.
"""

from __future__ import annotations

import copy
from pathlib import Path

from .holdout import DEFAULT_HOLDOUT_SHARE

DEFINITIONS_PATH = (
    Path(__file__).resolve().parent.parent / "dbt_project" / "models" / "marts" / "activation" / "_activation__models.yml"
)


_parsed: dict[tuple[str, int], dict] = {}


def _document() -> dict:
    """The YAML, parsed once per version of the file (the real-time path asks for every event)."""
    import yaml

    key = (str(DEFINITIONS_PATH), DEFINITIONS_PATH.stat().st_mtime_ns)
    if key not in _parsed:
        _parsed.clear()
        _parsed[key] = yaml.safe_load(DEFINITIONS_PATH.read_text())
    return _parsed[key]


def _model_meta(model: str) -> dict:
    document = _document()
    for node in document.get("models", []):
        if node.get("name") == model:
            return copy.deepcopy(dict((node.get("config") or {}).get("meta") or {}))
    raise KeyError(f"model {model!r} is not in {DEFINITIONS_PATH}")


def segments() -> list[dict]:
    """Every segment as ``{segment_id, description, where}``, in the YAML's order."""
    return [dict(segment) for segment in _model_meta("segment_membership").get("segments", [])]


def campaigns() -> dict[str, dict]:
    """Every campaign keyed by ``campaign_id``, with the defaults filled in (``holdout_share`` 0.10, ``segment_id``,
    ``trigger``, ``template`` and ``discount_percent`` None when absent)."""
    result: dict[str, dict] = {}
    for campaign in _model_meta("campaign_plan").get("campaigns", []):
        campaign = {
            "segment_id": None,
            "trigger": None,
            "template": None,
            "discount_percent": None,
            **campaign,
        }
        if campaign.get("holdout_share") is None:
            campaign["holdout_share"] = DEFAULT_HOLDOUT_SHARE
        result[campaign["campaign_id"]] = campaign
    return result


def frequency_cap_per_week() -> int:
    """Messages a person may get per ISO week across all campaigns (planned and triggered)."""
    return int(_model_meta("campaign_plan")["frequency_cap_per_week"])


def audience_campaigns() -> dict[str, dict]:
    """The campaigns whose destination is an ad-platform audience (exported as hashed customer-match rows)."""
    return {key: value for key, value in campaigns().items() if value["destination"] == "ad_audience"}
