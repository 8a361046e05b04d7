# Every asset that writes to the DuckDB warehouse runs in this pool; its limit is 1 (one writer per file).
WAREHOUSE_POOL = "duckdb_warehouse"
