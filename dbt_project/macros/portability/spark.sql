{#- Spark (dbt-spark, the Thrift server of `journey spark start`): what differs from DuckDB and PostgreSQL, kept out
    of the models. Types are chosen by target.type (not adapter.dispatch) so that sqlfluff's jinja templater, whose
    `target.type` is duckdb, renders them as the DuckDB types it parses. -#}

{#- A string: varchar on DuckDB and PostgreSQL (unbounded), string on Spark (its varchar needs a length). -#}
{% macro string_type() -%}
    {{- return({'spark': 'string', 'databricks': 'string'}.get(target.type, 'varchar')) -}}
{%- endmacro %}

{#- An instant (UTC): timestamptz on DuckDB and PostgreSQL; Spark's timestamp is one (TIMESTAMP_LTZ; the session
    time zone is UTC). -#}
{% macro timestamptz_type() -%}
    {{- return({'spark': 'timestamp', 'databricks': 'timestamp'}.get(target.type, 'timestamptz')) -}}
{%- endmacro %}

{#- The keyed pseudonym (macros/pseudonym.sql) on Spark: HMAC-SHA-256 (RFC 2104) written out, sha2(opad || sha2(ipad
    || value)), with the padded keys substituted by the Thrift server from its environment (orchestration/spark.py
    puts them there): neither the SQL dbt compiles nor its logs carry the key. The same hex digests as DuckDB's
    jw_keyed_hash. -#}
{% macro spark__keyed_hash(expr) -%}
    sha2(concat(unhex('${env:JW_PSEUDONYM_OPAD}'), unhex(sha2(concat(unhex('${env:JW_PSEUDONYM_IPAD}'), encode(cast({{ expr }} as string), 'UTF-8')), 256))), 256)
{%- endmacro %}

{#- DuckDB's and PostgreSQL's timezone('UTC', x): a timestamptz as its UTC wall-clock time, or a UTC wall-clock time
    as the instant. Spark's timestamp is both at once in a session whose time zone is UTC (the Thrift server's,
    orchestration/spark.py): x itself. -#}
{% macro at_utc(expr) -%}
    {{ return(adapter.dispatch('at_utc')(expr)) }}
{%- endmacro %}

{% macro default__at_utc(expr) -%}
    timezone('UTC', {{ expr }})
{%- endmacro %}

{% macro spark__at_utc(expr) -%}
    {{ expr }}
{%- endmacro %}
