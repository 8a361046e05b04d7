"""Journey Warehouse ingestion: dlt sources and the demo world. No Dagster imports here."""
