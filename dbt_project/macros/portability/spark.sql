{#- Spark (dbt-spark over the Thrift server of `journey spark start`): what differs from DuckDB and PostgreSQL, kept
    out of the models. The server runs with its session time zone pinned to UTC (orchestration/spark.py). -#}

{#- The keyed pseudonym (macros/pseudonym.sql) on Spark: HMAC-SHA-256 (RFC 2104) written out, sha2(opad || sha2(ipad
    || value)), with the padded keys substituted by the Thrift server from its environment (orchestration/spark.py
    puts them there): neither the SQL dbt compiles nor its logs carry the key. The same hex digests as DuckDB's
    jw_keyed_hash. -#}
{% macro spark__keyed_hash(expr) -%}
    sha2(concat(unhex('${env:JW_PSEUDONYM_OPAD}'), unhex(sha2(concat(unhex('${env:JW_PSEUDONYM_IPAD}'), encode(cast({{ expr }} as string), 'UTF-8')), 256))), 256)
{%- endmacro %}

{#- Type names the models write as DuckDB and PostgreSQL spell them, as Spark spells them: varchar without a length
    (Spark's needs one) is string, timestamptz / timestamp with time zone is timestamp (Spark's timestamp is an instant,
    TIMESTAMP_LTZ), double precision is double. Applied to the SQL of every table and view dbt creates on Spark (the
    overrides below), only after `as` (casts) or `::`, never inside a quoted string or a -- comment. -#}
{% macro spark_type_names(sql) -%}
    {%- set re = modules.re -%}
    {%- set parts = re.split("(--[^\\n]*|'(?:[^']|'')*')", sql) -%}
    {%- set out = [] -%}
    {%- for part in parts -%}
        {%- if loop.index0 % 2 == 1 -%}
            {%- do out.append(part) -%}
        {%- else -%}
            {%- set p = re.sub("(?i)(\\bas\\s+|::\\s*)varchar\\b(?!\\s*\\()", "\\1string", part) -%}
            {%- set p = re.sub("(?i)(\\bas\\s+|::\\s*)(timestamptz|timestamp\\s+with\\s+time\\s+zone)\\b", "\\1timestamp", p) -%}
            {%- set p = re.sub("(?i)(\\bas\\s+|::\\s*)double\\s+precision\\b", "\\1double", p) -%}
            {%- set p = re.sub("(?i)(\\bas\\s+|::\\s*)varchar\\[\\]", "\\1array<string>", p) -%}
            {%- do out.append(p) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(out | join('')) -}}
{%- endmacro %}

{% macro spark__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- set code = spark_type_names(compiled_code) if language == 'sql' else compiled_code -%}
    {{ dbt.spark__create_table_as(temporary, relation, code, language) }}
{%- endmacro %}

{% macro spark__create_view_as(relation, sql) -%}
    {{ dbt.spark__create_view_as(relation, spark_type_names(sql)) }}
{%- endmacro %}

{#- Incremental models: the project's delete+insert (and merge) need a table format with row-level writes (Delta,
    Iceberg), whose jars the pyspark wheel does not ship. Plain Parquet tables are built whole: a model whose table
    does not exist yet (or under --full-refresh) is created by dbt-spark without any strategy; only an incremental run
    over an existing table needs one, and gets a clear error instead of a wrong answer. -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy in ['delete+insert', 'merge'] and file_format not in ['delta', 'iceberg', 'hudi'] -%}
        {%- do return('full_refresh_only') -%}
    {%- endif -%}
    {%- do return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) -%}
{%- endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy == 'full_refresh_only' -%}
        {%- do exceptions.raise_compiler_error(
            "incremental " ~ config.get('incremental_strategy') ~ " into " ~ target ~ " needs Delta or Iceberg on Spark; "
            ~ "Parquet tables are rebuilt: run with --full-refresh") -%}
    {%- endif -%}
    {{ dbt.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) }}
{%- endmacro %}

{#- Functions the models call as DuckDB and PostgreSQL name them, created on Spark as SQL functions in its default
    database (where unqualified names resolve) at the start of every run (engine_setup, macros/portability/
    engine_setup.sql). timezone('UTC', x): Spark's timestamp is both the instant and its UTC wall-clock time in a UTC
    session, so x itself. -#}
{% macro spark__engine_setup() -%}
    create or replace function default.timezone(zone string, ts timestamp) returns timestamp return ts
{%- endmacro %}
