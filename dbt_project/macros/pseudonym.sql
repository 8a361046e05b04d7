{#- A keyed pseudonym of an already normalised value: hex HMAC-SHA-256 under the pseudonym key (ingestion/pseudonym.py),
    by the DuckDB function jw_keyed_hash the dbt-duckdb plugin ingestion.dbt_pseudonym registers on every connection.
    The key never appears in SQL. NULL stays NULL. -#}
{% macro keyed_hash(expr) -%}
    jw_keyed_hash(cast({{ expr }} as varchar))
{%- endmacro %}
