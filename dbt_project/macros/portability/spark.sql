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

{#- Functions the models call, created on Spark as SQL functions in its default database (where unqualified names
    resolve) at the start of every run (on-run-start: engine_setup, macros/portability/engine_setup.sql), one statement
    each (the Thrift server runs one per call):
    - timezone('UTC', x), as DuckDB and PostgreSQL name it: Spark's timestamp is both the instant and its UTC
      wall-clock time in a UTC session, so x itself.
    Both string measures work on UTF-8 bytes, as DuckDB's do (jw_bytes: each byte one Latin-1 character).
    - jw_damerau_levenshtein(a, b): damerau_levenshtein in the optimal string alignment form (insertions, deletions,
      substitutions, transpositions of adjacent characters), by dynamic programming with higher-order functions: one
      aggregate over the characters of a carrying the previous two rows, each row built by an aggregate over b.
      DuckDB's is the unrestricted form: the two agree on distances 0 and 1 (identity_name_max_edits), not always
      above ('de' / 'ecd': 2 on DuckDB, 3 here).
    - jw_jaro_winkler_similarity(a, b): DuckDB's jaro_winkler_similarity (the shorter string matched greedily against
      the longer within max(len) / 2 - 1 characters; transpositions halved, rounded down; the Winkler bonus of 0.1 per
      common prefix character, up to 4, above a Jaro similarity of 0.7). -#}
{% macro spark__engine_setup() -%}
    {%- set statements = [
        "create or replace function default.timezone(zone string, ts timestamp) returns timestamp return ts",
        "create or replace function default.jw_bytes(x string) returns string return decode(encode(x, 'UTF-8'), 'ISO-8859-1')",
        spark_damerau_levenshtein_bytes_function(),
        spark_damerau_levenshtein_function(),
        spark_jaro_function(),
        "create or replace function default.jw_jaro_winkler_bytes(a string, b string) returns double return
            case when a is null or b is null then null
                 when default.jw_jaro(a, b) > 0.7 then default.jw_jaro(a, b) + 0.1 * (
                     size(filter(sequence(1, least(4, length(a), length(b))), k -> substr(a, 1, k) = substr(b, 1, k)))
                 ) * (1.0 - default.jw_jaro(a, b))
                 else default.jw_jaro(a, b) end",
        "create or replace function default.jw_jaro_winkler_similarity(a string, b string) returns double return
            default.jw_jaro_winkler_bytes(default.jw_bytes(a), default.jw_bytes(b))",
    ] -%}
    {%- for statement in statements -%}
        {%- do run_query(statement) -%}
    {%- endfor -%}
    select 1
{%- endmacro %}

{% macro spark_damerau_levenshtein_function() -%}
    create or replace function default.jw_damerau_levenshtein(a string, b string) returns int return
    default.jw_damerau_levenshtein_bytes(default.jw_bytes(a), default.jw_bytes(b))
{%- endmacro %}

{% macro spark_damerau_levenshtein_bytes_function() -%}
    create or replace function default.jw_damerau_levenshtein_bytes(a string, b string) returns int return
    case
        when a is null or b is null then null
        when length(a) = 0 then length(b)
        when length(b) = 0 then length(a)
        else element_at(
            aggregate(
                sequence(1, length(a)),
                named_struct('pp', cast(array() as array<int>), 'p', sequence(0, length(b))),
                (acc, i) -> named_struct('pp', acc.p, 'p', aggregate(
                    sequence(1, length(b)),
                    array(i),
                    (r, j) -> concat(r, array(least(
                        element_at(acc.p, j + 1) + 1,
                        element_at(r, j) + 1,
                        element_at(acc.p, j) + if(substr(a, i, 1) = substr(b, j, 1), 0, 1),
                        if(i > 1 and j > 1 and substr(a, i, 1) = substr(b, j - 1, 1) and substr(a, i - 1, 1) = substr(b, j, 1),
                           try_element_at(acc.pp, j - 1) + 1, 2147483647)
                    )))
                ))
            ).p,
            length(b) + 1)
    end
{%- endmacro %}

{#- Jaro similarity of (s = the shorter, t = the longer): matched flags of t and the matched characters of s in order
    carried through an aggregate over s. -#}
{% macro spark_jaro_function() -%}
    create or replace function default.jw_jaro(a string, b string) returns double return
    case
        when a is null or b is null then null
        when length(a) = 0 or length(b) = 0 then 0.0
        else (
            select
                case when m = 0 then 0.0
                     else (m / ls + m / lt + (m - floor(mismatches / 2)) / m) / 3.0 end
            from (
                select
                    cast(size(st.sm) as double) as m,
                    cast(length(s) as double) as ls,
                    cast(length(t) as double) as lt,
                    size(filter(zip_with(
                        st.sm,
                        filter(transform(sequence(1, length(t)), k -> if(st.tm[k - 1], substr(t, k, 1), null)), x -> x is not null),
                        (x, y) -> x != y
                    ), z -> z)) as mismatches
                from (
                    select s, t, aggregate(
                        sequence(1, length(s)),
                        named_struct('tm', array_repeat(false, length(t)), 'sm', cast(array() as array<string>)),
                        (acc, i) -> named_struct(
                            'tm', transform(acc.tm, (v, k) -> v or k + 1 = array_position(transform(sequence(1, length(t)),
                                j -> abs(j - i) <= w and not acc.tm[j - 1] and substr(t, j, 1) = substr(s, i, 1)), true)),
                            'sm', if(array_position(transform(sequence(1, length(t)),
                                j -> abs(j - i) <= w and not acc.tm[j - 1] and substr(t, j, 1) = substr(s, i, 1)), true) > 0,
                                concat(acc.sm, array(substr(s, i, 1))), acc.sm)
                        )
                    ) as st
                    from (
                        select
                            if(length(a) <= length(b), a, b) as s,
                            if(length(a) <= length(b), b, a) as t,
                            greatest(0, floor(greatest(length(a), length(b)) / 2) - 1) as w
                    )
                )
            )
        )
    end
{%- endmacro %}

{#- The dispatched functions of macros/portability/functions.sql and macros/identity.sql, on Spark. -#}

{#- arg_max/arg_min: max_by/min_by over a struct of the keys, each preceded by `key is null` so that NULL key fields
    sort as the largest value (as on DuckDB and PostgreSQL); rows where `arg` is NULL are left out unless nulls=true. -#}
{% macro spark__arg_extreme(arg, keys, kind, where, nulls) -%}
    {%- set conditions = [] if nulls else ['(' ~ arg ~ ') is not null'] -%}
    {%- if keys | length == 1 and not nulls -%}{%- do conditions.append('(' ~ keys[0] ~ ') is not null') -%}{%- endif -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    {%- set fields = [] -%}
    {%- for key in keys -%}{%- do fields.extend(['(' ~ key ~ ') is null', key]) -%}{%- endfor -%}
    {{ kind }}_by({{ arg }}, struct({{ fields | join(', ') }}))
    {%- if conditions %} filter (where {{ conditions | join(' and ') }}){% endif %}
{%- endmacro %}

{% macro spark__epoch_seconds(expr) -%}
    (cast(unix_micros({{ expr }}) as double) / 1000000.0)
{%- endmacro %}

{#- Spark's split takes a regular expression: the separator quoted literally. -#}
{% macro spark__split_to_array(expr, separator) -%}
    split({{ expr }}, concat('\Q', {{ separator }}, '\E'))
{%- endmacro %}

{% macro spark__distinct_characters(expr) -%}
    size(array_distinct(split({{ expr }}, '')))
{%- endmacro %}

{% macro spark__sha256_hex(expr) -%}
    sha2(cast({{ expr }} as string), 256)
{%- endmacro %}

{% macro spark__hex_to_integer(expr) -%}
    cast(conv({{ expr }}, 16, 10) as bigint)
{%- endmacro %}

{% macro spark__iso_week_label(expr) -%}
    concat(cast(extract(yearofweek from {{ expr }}) as string), '-W', lpad(cast(weekofyear({{ expr }}) as string), 2, '0'))
{%- endmacro %}

{% macro spark__compact_utc_timestamp(expr) -%}
    date_format({{ expr }}, "yyyyMMdd'T'HHmmss")
{%- endmacro %}

{% macro spark__day_series(first_day, last_day, alias, column) -%}
    lateral explode(sequence(cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval 1 day)) as {{ alias }} ({{ column }})
{%- endmacro %}

{% macro spark__integer_series(last, alias, column) -%}
    lateral explode(sequence(0, cast({{ last }} as integer))) as {{ alias }} ({{ column }})
{%- endmacro %}

{#- Jaro-Winkler and Damerau-Levenshtein: Spark SQL functions created on run start (spark__engine_setup). -#}
{% macro spark__jaro_winkler(a, b) -%}
    default.jw_jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{% macro spark__edit_distance(a, b) -%}
    default.jw_damerau_levenshtein({{ a }}, {{ b }})
{%- endmacro %}

{#- Macros DuckDB's SQL did not need; default__ is DuckDB's (and PostgreSQL's) spelling. -#}

{#- Every match of `pattern` in `value` replaced: DuckDB and PostgreSQL need the 'g' flag, Spark replaces every match
    and reads a fourth argument as a position. POSIX classes ([:alpha:], [:digit:], [:space:]) become Java's. -#}
{% macro regex_replace_all(value, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_all')(value, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regex_replace_all(value, pattern, replacement) -%}
    regexp_replace({{ value }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro spark__regex_replace_all(value, pattern, replacement) -%}
    {%- set java = pattern | replace('[:alpha:]', '\\p{Alpha}') | replace('[:digit:]', '\\p{Digit}') | replace('[:space:]', '\\s') -%}
    regexp_replace({{ value }}, {{ java }}, {{ replacement }})
{%- endmacro %}

{#- string_agg with an order (and optionally distinct values): Spark has no ORDER BY inside an aggregate, so the
    values are collected with their sort key, sorted, and joined. -#}
{% macro ordered_string_agg(expr, separator, order_by, distinct=false) -%}
    {{ return(adapter.dispatch('ordered_string_agg')(expr, separator, order_by, distinct)) }}
{%- endmacro %}

{% macro default__ordered_string_agg(expr, separator, order_by, distinct=false) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expr }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__ordered_string_agg(expr, separator, order_by, distinct=false) -%}
    {%- if distinct -%}
    array_join(array_sort(collect_set({{ expr }})), {{ separator }})
    {%- else -%}
    array_join(transform(array_sort(collect_list(struct({{ order_by }}, {{ expr }} as jw_v))), s -> s.jw_v), {{ separator }})
    {%- endif -%}
{%- endmacro %}

{#- The values of a group as an array in the order of `order_by`. -#}
{% macro ordered_list_agg(expr, order_by) -%}
    {{ return(adapter.dispatch('ordered_list_agg')(expr, order_by)) }}
{%- endmacro %}

{% macro default__ordered_list_agg(expr, order_by) -%}
    array_agg({{ expr }} order by {{ order_by }})
{%- endmacro %}

{% macro spark__ordered_list_agg(expr, order_by) -%}
    transform(array_sort(collect_list(struct({{ order_by }}, {{ expr }} as jw_v))), s -> s.jw_v)
{%- endmacro %}

{#- A post-hook that deletes the rows of an incremental model whose source rows are gone. Spark's Parquet tables have
    no DELETE (Delta or Iceberg would); on Spark those models are only ever built whole (an incremental run over an
    existing table stops: dbt_spark_get_incremental_sql above), from the current rows, so there is nothing to
    delete: the hook is a no-op there. -#}
{% macro delete_from(relation, condition) -%}
    {{ return(adapter.dispatch('delete_from')(relation, condition)) }}
{%- endmacro %}

{% macro default__delete_from(relation, condition) -%}
    delete from {{ relation }} where {{ condition }}
{%- endmacro %}

{% macro spark__delete_from(relation, condition) -%}
    select 1 as built_whole_nothing_to_delete
{%- endmacro %}

{#- Arrays (DuckDB lists) besides functions.sql's: joined to a string, the first n elements, the i-th element
    (1-based, negative from the end), and one row per element as a table expression for FROM (lateral on Spark). -#}

{% macro list_join(expr, separator) -%}{{ return(adapter.dispatch('list_join')(expr, separator)) }}{%- endmacro %}
{% macro default__list_join(expr, separator) -%}array_to_string({{ expr }}, {{ separator }}){%- endmacro %}
{% macro spark__list_join(expr, separator) -%}array_join({{ expr }}, {{ separator }}){%- endmacro %}

{% macro list_head(expr, n) -%}{{ return(adapter.dispatch('list_head')(expr, n)) }}{%- endmacro %}
{% macro default__list_head(expr, n) -%}{{ expr }}[1:{{ n }}]{%- endmacro %}
{% macro spark__list_head(expr, n) -%}slice({{ expr }}, 1, {{ n }}){%- endmacro %}


{% macro list_element(expr, i) -%}{{ return(adapter.dispatch('list_element')(expr, i)) }}{%- endmacro %}
{% macro default__list_element(expr, i) -%}{{ expr }}[{{ i }}]{%- endmacro %}
{% macro postgres__list_element(expr, i) -%}{% if i | int < 0 %}{{ expr }}[cardinality({{ expr }}) + 1 + ({{ i }})]{% else %}{{ expr }}[{{ i }}]{% endif %}{%- endmacro %}
{% macro spark__list_element(expr, i) -%}try_element_at({{ expr }}, {{ i }}){%- endmacro %}

{% macro unnest_as(expr, alias, column) -%}{{ return(adapter.dispatch('unnest_as')(expr, alias, column)) }}{%- endmacro %}
{% macro default__unnest_as(expr, alias, column) -%}unnest({{ expr }}) as {{ alias }} ({{ column }}){%- endmacro %}
{% macro spark__unnest_as(expr, alias, column) -%}lateral explode({{ expr }}) as {{ alias }} ({{ column }}){%- endmacro %}

{#- The portable macros of macros/portability/functions.sql on arrays and IGNORE NULLS windows, on Spark. -#}
{% macro spark__value_ignoring_nulls(which, expr, window) -%}
    {{ which }}_value({{ expr }}, true) over ({{ window }})
{%- endmacro %}

{% macro spark__array_size(expr) -%}
    size({{ expr }})
{%- endmacro %}

{% macro spark__array_from_end(expr, n=1) -%}
    try_element_at({{ expr }}, -{{ n }})
{%- endmacro %}

{% macro spark__array_tail(expr, n) -%}
    slice({{ expr }}, greatest(size({{ expr }}) - {{ n }} + 1, 1), {{ n }})
{%- endmacro %}

{#- Model contracts declare DuckDB's type names (varchar, timestamp with time zone, ...): the query dbt builds from a
    contract to compare column types is translated like every model's SQL. -#}
{% macro spark__get_empty_schema_sql(columns) -%}
    {{ return(spark_type_names(dbt.default__get_empty_schema_sql(columns))) }}
{%- endmacro %}

{#- Contracts' constraints (not_null) become ALTER TABLE statements that only Delta tables take; dbt-spark assumes
    Delta when no file_format is set, the tables here are Parquet (dbt-spark's own default for creating them). The
    column types are still checked (contract) and not_null by the data tests. -#}
{% macro spark__persist_constraints(relation, model) -%}
    {%- if config.get('contract').enforced and config.get('file_format', 'parquet') == 'delta' -%}
        {%- do dbt.spark__persist_constraints(relation, model) -%}
    {%- endif -%}
{%- endmacro %}

{#- Whole days from date `start` to date `end`: DuckDB and PostgreSQL subtract dates to an integer, Spark to an
    interval. -#}
{% macro days_between(start, end) -%}{{ return(adapter.dispatch('days_between')(start, end)) }}{%- endmacro %}
{% macro default__days_between(start, end) -%}({{ end }} - {{ start }}){%- endmacro %}
{% macro spark__days_between(start, end) -%}datediff({{ end }}, {{ start }}){%- endmacro %}

{#- Doubles rounded as DuckDB rounds them (functions.sql): Spark's round and its cast to decimal round the shortest
    decimal form of a double (0.11425 to 0.1143), DuckDB the double itself (0.114249999...: 0.1142); scaled, floored
    halves away from zero, as PostgreSQL's implementation. -#}
{% macro spark__round_to(expr, digits) -%}
    {%- set scaled = '(cast(' ~ expr ~ ' as double) * 1e' ~ digits ~ ')' -%}
    (sign({{ scaled }}) * floor(abs({{ scaled }}) + 0.5) / 1e{{ digits }})
{%- endmacro %}

{% macro spark__double_to_decimal(expr, precision, scale) -%}
    {%- set scaled = '(cast(' ~ expr ~ ' as double) * 1e' ~ scale ~ ')' -%}
    cast(cast(sign({{ scaled }}) * floor(abs({{ scaled }}) + 0.5) as decimal(38, 0)) / cast(power(10, {{ scale }}) as decimal(38, 0)) as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}
