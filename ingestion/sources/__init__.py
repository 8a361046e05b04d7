"""dlt sources for the six source systems. Plain dlt: usable and testable without Dagster."""

from .esp import esp_source
from .history import history_source
from .iot import iot_source
from .loyalty import loyalty_source
from .shop import shop_source
from .social import social_source

__all__ = ["esp_source", "history_source", "iot_source", "loyalty_source", "shop_source", "social_source"]
