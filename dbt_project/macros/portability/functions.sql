{#- Functions DuckDB has and PostgreSQL names or shapes differently, one macro each (adapter.dispatch): default__ is
    DuckDB's SQL (the project's SQL as it was), postgres__ the same result on PostgreSQL. dbt's own cross-database
    macros (dbt.datediff, dbt.dateadd, dbt.date_trunc, dbt.split_part, ...) are used where they exist. -#}

{#- arg_max/arg_min: `arg` at the row with the largest/smallest key, a list of expressions compared in order (a
    DuckDB tuple); rows where `arg` is NULL are ignored (DuckDB's arg_max), unless nulls=true (arg_max_null);
    `where` filters the rows as an aggregate FILTER clause. NULL key fields sort as the largest value on both. -#}
{% macro arg_max_by(arg, keys, where=none, nulls=false) -%}
    {{ return(adapter.dispatch('arg_extreme')(arg, keys, 'max', where, nulls)) }}
{%- endmacro %}

{% macro arg_min_by(arg, keys, where=none, nulls=false) -%}
    {{ return(adapter.dispatch('arg_extreme')(arg, keys, 'min', where, nulls)) }}
{%- endmacro %}

{% macro default__arg_extreme(arg, keys, kind, where, nulls) -%}
    arg_{{ kind }}{{ '_null' if nulls }}({{ arg }}, {% if keys | length == 1 %}{{ keys[0] }}{% else %}({{ keys | join(', ') }}){% endif %})
    {%- if where %} filter (where {{ where }}){% endif %}
{%- endmacro %}

{% macro postgres__arg_extreme(arg, keys, kind, where, nulls) -%}
    {%- set conditions = [] if nulls else ['(' ~ arg ~ ') is not null'] -%}
    {%- if keys | length == 1 and not nulls -%}{%- do conditions.append('(' ~ keys[0] ~ ') is not null') -%}{%- endif -%}
    {%- if where -%}{%- do conditions.append('(' ~ where ~ ')') -%}{%- endif -%}
    (array_agg({{ arg }} order by {% for key in keys %}{{ key }} {{ 'desc' if kind == 'max' else 'asc' }}{{ ', ' if not loop.last }}{% endfor %})
    {%- if conditions %} filter (where {{ conditions | join(' and ') }}){% endif %})[1]
{%- endmacro %}

{#- Some value of the group (the groups using it hold one value): DuckDB's any_value; min on PostgreSQL 15. -#}
{% macro any_value(expr) -%}
    {{ return(adapter.dispatch('any_value')(expr)) }}
{%- endmacro %}

{% macro default__any_value(expr) -%}
    any_value({{ expr }})
{%- endmacro %}

{% macro postgres__any_value(expr) -%}
    min({{ expr }})
{%- endmacro %}

{#- Seconds since 1970-01-01 00:00 UTC of a timestamp with time zone, a double. -#}
{% macro epoch_seconds(expr) -%}
    {{ return(adapter.dispatch('epoch_seconds')(expr)) }}
{%- endmacro %}

{% macro default__epoch_seconds(expr) -%}
    epoch({{ expr }})
{%- endmacro %}

{% macro postgres__epoch_seconds(expr) -%}
    cast(extract(epoch from {{ expr }}) as double precision)
{%- endmacro %}

{#- A double rounded to `digits` decimals as DuckDB rounds it: round(x * 10^digits) / 10^digits in doubles, halves
    away from zero (0.11425 is 0.114249999... as a double: 0.1142). PostgreSQL's round(numeric) would round the
    shortest decimal form instead (0.1143), its round(double) halves to even. -#}
{% macro round_to(expr, digits) -%}
    {{ return(adapter.dispatch('round_to')(expr, digits)) }}
{%- endmacro %}

{% macro default__round_to(expr, digits) -%}
    round({{ expr }}, {{ digits }})
{%- endmacro %}

{% macro postgres__round_to(expr, digits) -%}
    {%- set scaled = '(cast(' ~ expr ~ ' as double precision) * 1e' ~ digits ~ ')' -%}
    (sign({{ scaled }}) * floor(abs({{ scaled }}) + 0.5) / 1e{{ digits }})
{%- endmacro %}

{#- A double as decimal(`precision`, `scale`), rounded as DuckDB casts: the double times 10^scale rounded (halves
    away from zero), so a double just below a half rounds down (78.605 is 78.60499999... : 78.60). PostgreSQL's cast
    would round the shortest decimal form (78.61). -#}
{% macro double_to_decimal(expr, precision, scale) -%}
    {{ return(adapter.dispatch('double_to_decimal')(expr, precision, scale)) }}
{%- endmacro %}

{% macro default__double_to_decimal(expr, precision, scale) -%}
    cast({{ expr }} as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}

{% macro postgres__double_to_decimal(expr, precision, scale) -%}
    {%- set scaled = '(cast(' ~ expr ~ ' as double precision) * 1e' ~ scale ~ ')' -%}
    cast(cast(sign({{ scaled }}) * floor(abs({{ scaled }}) + 0.5) as numeric) / 1e{{ scale }} as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}

{#- A string split at `separator` into an array (unnest it for rows). -#}
{% macro split_to_array(expr, separator) -%}
    {{ return(adapter.dispatch('split_to_array')(expr, separator)) }}
{%- endmacro %}

{% macro default__split_to_array(expr, separator) -%}
    string_split({{ expr }}, {{ separator }})
{%- endmacro %}

{% macro postgres__split_to_array(expr, separator) -%}
    string_to_array({{ expr }}, {{ separator }})
{%- endmacro %}

{#- How many distinct characters a string has. -#}
{% macro distinct_characters(expr) -%}
    {{ return(adapter.dispatch('distinct_characters')(expr)) }}
{%- endmacro %}

{% macro default__distinct_characters(expr) -%}
    length(list_distinct(string_split({{ expr }}, '')))
{%- endmacro %}

{% macro postgres__distinct_characters(expr) -%}
    (select count(distinct chars.c) from regexp_split_to_table({{ expr }}, '') as chars (c))
{%- endmacro %}

{#- Hex SHA-256 of a string. -#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex')(expr)) }}
{%- endmacro %}

{% macro default__sha256_hex(expr) -%}
    sha256({{ expr }})
{%- endmacro %}

{% macro postgres__sha256_hex(expr) -%}
    encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}

{#- An unsigned integer from up to 15 hex digits (no prefix). -#}
{% macro hex_to_integer(expr) -%}
    {{ return(adapter.dispatch('hex_to_integer')(expr)) }}
{%- endmacro %}

{% macro default__hex_to_integer(expr) -%}
    cast(('0x' || {{ expr }}) as ubigint)
{%- endmacro %}

{% macro postgres__hex_to_integer(expr) -%}
    cast(cast(('x' || lpad({{ expr }}, 16, '0')) as bit(64)) as bigint)
{%- endmacro %}

{#- The ISO week of a date as 'YYYY-Www' ('2026-W05'). -#}
{% macro iso_week_label(expr) -%}
    {{ return(adapter.dispatch('iso_week_label')(expr)) }}
{%- endmacro %}

{% macro default__iso_week_label(expr) -%}
    strftime({{ expr }}, '%G-W%V')
{%- endmacro %}

{% macro postgres__iso_week_label(expr) -%}
    to_char({{ expr }}, 'IYYY-"W"IW')
{%- endmacro %}

{#- A timestamp with time zone as 'YYYYMMDDTHHMMSS' in UTC. -#}
{% macro compact_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('compact_utc_timestamp')(expr)) }}
{%- endmacro %}

{% macro default__compact_utc_timestamp(expr) -%}
    strftime({{ expr }} at time zone 'UTC', '%Y%m%dT%H%M%S')
{%- endmacro %}

{% macro postgres__compact_utc_timestamp(expr) -%}
    to_char({{ expr }} at time zone 'UTC', 'YYYYMMDD"T"HH24MISS')
{%- endmacro %}

{#- One row per day from `first_day` to `last_day` (dates), column `column`: a table expression for FROM. -#}
{% macro day_series(first_day, last_day, alias, column) -%}
    {{ return(adapter.dispatch('day_series')(first_day, last_day, alias, column)) }}
{%- endmacro %}

{% macro default__day_series(first_day, last_day, alias, column) -%}
    generate_series({{ first_day }}, {{ last_day }}, interval 1 day) as {{ alias }} ({{ column }})
{%- endmacro %}

{% macro postgres__day_series(first_day, last_day, alias, column) -%}
    generate_series(cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval '1 day') as {{ alias }} ({{ column }})
{%- endmacro %}

{#- Integers 0 .. `last` (an integer expression that may name columns of the row it joins): a table expression. -#}
{% macro integer_series(last, alias, column) -%}
    {{ return(adapter.dispatch('integer_series')(last, alias, column)) }}
{%- endmacro %}

{% macro default__integer_series(last, alias, column) -%}
    unnest(generate_series(0, {{ last }})) as {{ alias }} ({{ column }})
{%- endmacro %}

{% macro postgres__integer_series(last, alias, column) -%}
    generate_series(0, cast({{ last }} as integer)) as {{ alias }} ({{ column }})
{%- endmacro %}

{#- Jaro-Winkler similarity (prefix scale 0.1, up to 4 characters, applied above a Jaro similarity of 0.7), DuckDB's
    jaro_winkler_similarity; on PostgreSQL jw_jaro_winkler_similarity (macros/portability/engine_setup.sql). -#}
{% macro jaro_winkler(a, b) -%}
    {{ return(adapter.dispatch('jaro_winkler')(a, b)) }}
{%- endmacro %}

{% macro default__jaro_winkler(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{% macro postgres__jaro_winkler(a, b) -%}
    public.jw_jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{#- first_value / last_value IGNORE NULLS over a window: `which` first | last, `expr`, the window's text (partition,
    order, frame). PostgreSQL has no IGNORE NULLS: the non-null values of the frame as an array (an aggregate over
    the window with FILTER), and its first or last element (jw_array_last, macros/portability/engine_setup.sql). -#}
{% macro value_ignoring_nulls(which, expr, window) -%}
    {{ return(adapter.dispatch('value_ignoring_nulls')(which, expr, window)) }}
{%- endmacro %}

{% macro default__value_ignoring_nulls(which, expr, window) -%}
    {{ which }}_value({{ expr }} ignore nulls) over ({{ window }})
{%- endmacro %}

{% macro postgres__value_ignoring_nulls(which, expr, window) -%}
    {%- set values = 'array_agg(' ~ expr ~ ') filter (where (' ~ expr ~ ') is not null) over (' ~ window ~ ')' -%}
    {%- if which == 'first' %}({{ values }})[1]{% else %}public.jw_array_last({{ values }}){% endif -%}
{%- endmacro %}

{#- Arrays (DuckDB lists): how many elements; the `n`-th element from the end; the last `n` elements. -#}
{% macro array_size(expr) -%}
    {{ return(adapter.dispatch('array_size')(expr)) }}
{%- endmacro %}

{% macro default__array_size(expr) -%}
    len({{ expr }})
{%- endmacro %}

{% macro postgres__array_size(expr) -%}
    cardinality({{ expr }})
{%- endmacro %}

{% macro array_from_end(expr, n=1) -%}
    {{ return(adapter.dispatch('array_from_end')(expr, n)) }}
{%- endmacro %}

{% macro default__array_from_end(expr, n=1) -%}
    ({{ expr }})[-{{ n }}]
{%- endmacro %}

{% macro postgres__array_from_end(expr, n=1) -%}
    ({{ expr }})[cardinality({{ expr }}) + 1 - {{ n }}]
{%- endmacro %}

{% macro array_tail(expr, n) -%}
    {{ return(adapter.dispatch('array_tail')(expr, n)) }}
{%- endmacro %}

{% macro default__array_tail(expr, n) -%}
    ({{ expr }})[-{{ n }}:]
{%- endmacro %}

{% macro postgres__array_tail(expr, n) -%}
    ({{ expr }})[cardinality({{ expr }}) + 1 - {{ n }}:]
{%- endmacro %}
