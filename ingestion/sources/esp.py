"""The email service provider's REST API: campaigns and their events (send, open, click, unsubscribe)."""

import dlt

from ._http_api import api_client, api_collection

COLLECTIONS = ("campaigns", "events")


@dlt.source(name="esp")
def esp_source(base_url: str = dlt.config.value, access_token: str | None = None, page_size: int = 1000):
    client = api_client(base_url)
    return [api_collection(client, name, page_size=page_size) for name in COLLECTIONS]
