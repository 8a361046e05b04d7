"""Historical orders: CSV and Parquet files of past transactions in a folder (``JW_HISTORY_DIR``)."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

# identifier types of a history row, in the order the first non-empty one is taken
IDENTIFIER_COLUMNS = (("shop_customer_id", "shop_customer"), ("loyalty_member_id", "loyalty_member"), ("email", "history_email"))


def history_order_id(identifier_type: str, identifier_value: str, ordered_on: date, amount: Decimal,
                     channel: str | None, occurrence: int) -> str:
    """The key of a history row without an order id: a hash of its identifier, date, amount, channel and how
    many equal rows came before it in the same file (two equal purchases are two orders; the same file read
    again, or the same row in a second export, gives the same key)."""
    key = "\x1f".join((identifier_type, identifier_value, ordered_on.isoformat(), f"{amount:.2f}", channel or "",
                       str(occurrence)))
    return "h-" + hashlib.sha256(key.encode()).hexdigest()[:24]
