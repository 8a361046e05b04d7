{#- Canonical forms the identity graph joins on. Plain SQL functions, portable across engines. -#}
{% macro normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{% macro normalize_handle(column) -%}
    nullif(lower({{ strip_leading('trim(' ~ column ~ ')', "'@'") }}), '')
{%- endmacro %}

{#- The leading characters of `value` that are in `characters` removed: ltrim(value, characters) on DuckDB and
    PostgreSQL; Spark reads a two-argument ltrim the other way round: SQL's trim(leading ... from ...). -#}
{% macro strip_leading(value, characters) -%}
    {{ return(adapter.dispatch('strip_leading', 'journey_warehouse')(value, characters)) }}
{%- endmacro %}

{% macro default__strip_leading(value, characters) -%}
    ltrim({{ value }}, {{ characters }})
{%- endmacro %}

{% macro spark__strip_leading(value, characters) -%}
    trim(leading {{ characters }} from {{ value }})
{%- endmacro %}

{% macro normalize_phone(column) -%}
    {{ return(adapter.dispatch('normalize_phone', 'journey_warehouse')(column)) }}
{%- endmacro %}

{#- Spark, Snowflake, BigQuery, Trino: regexp_replace replaces every match. -#}
{% macro default__normalize_phone(column) -%}
    nullif(regexp_replace(trim({{ column }}), '[^0-9+]', ''), '')
{%- endmacro %}

{#- DuckDB and PostgreSQL replace the first match unless told 'g'. -#}
{% macro duckdb__normalize_phone(column) -%}
    nullif(regexp_replace(trim({{ column }}), '[^0-9+]', '', 'g'), '')
{%- endmacro %}

{% macro postgres__normalize_phone(column) -%}
    {{ duckdb__normalize_phone(column) }}
{%- endmacro %}

{#- Timestamps in the warehouse are UTC without a zone (the profile pins the session to UTC). -#}
{% macro utc(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}

{% macro money(column) -%}
    cast({{ column }} as decimal(12, 2))
{%- endmacro %}
