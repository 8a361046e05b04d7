{#- A keyed pseudonym of an already normalised value: hex HMAC-SHA-256 under the pseudonym key (ingestion/pseudonym.py).
    The key never appears in SQL. NULL stays NULL.
    DuckDB: the function jw_keyed_hash the dbt-duckdb plugin ingestion.dbt_pseudonym registers on every connection.
    PostgreSQL: pgcrypto's hmac (the extension is created on run start) keyed with the session setting
    jw.pseudonym_key (the key's bytes in hex, set per connection through PGOPTIONS by orchestration.lib.dbt): the
    same hashes. -#}
{% macro keyed_hash(expr) -%}
    {{ return(adapter.dispatch('keyed_hash')(expr)) }}
{%- endmacro %}

{% macro default__keyed_hash(expr) -%}
    jw_keyed_hash(cast({{ expr }} as varchar))
{%- endmacro %}

{% macro postgres__keyed_hash(expr) -%}
    encode(hmac(convert_to(cast({{ expr }} as varchar), 'UTF8'), decode(current_setting('jw.pseudonym_key'), 'hex'), 'sha256'), 'hex')
{%- endmacro %}
