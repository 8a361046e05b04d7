"""The online shop's REST API: customers, orders (with their lines), abandoned checkouts, storefront events."""

import dlt

from ._http_api import api_client, api_collection

COLLECTIONS = ("customers", "orders", "abandoned_checkouts", "events")


@dlt.source(name="shop")
def shop_source(base_url: str = dlt.config.value, access_token: str | None = None, page_size: int = 500):
    client = api_client(base_url)
    return [api_collection(client, name, page_size=page_size, nested_max=1) for name in COLLECTIONS]
