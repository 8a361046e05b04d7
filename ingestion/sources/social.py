"""The social media listening API: our posts and every interaction (like, share, comment, mention, check-in)."""

import dlt

from ._http_api import api_client, api_collection

COLLECTIONS = ("posts", "interactions")


@dlt.source(name="social")
def social_source(base_url: str = dlt.config.value, access_token: str | None = None, page_size: int = 500):
    client = api_client(base_url)
    return [api_collection(client, name, page_size=page_size) for name in COLLECTIONS]
