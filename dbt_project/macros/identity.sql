{#- Helpers of the identity graph (int_identity__*). Plain SQL per engine through adapter.dispatch. -#}

{#- `value` contains a match of the regular expression `pattern` (both SQL expressions). -#}
{% macro regex_contains(value, pattern) -%}
    {{ return(adapter.dispatch('regex_contains', 'journey_warehouse')(value, pattern)) }}
{%- endmacro %}

{#- Snowflake, Trino, Spark, BigQuery (regexp_contains): regexp_like with a partial match. -#}
{% macro default__regex_contains(value, pattern) -%}
    regexp_like({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro duckdb__regex_contains(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}

{% macro postgres__regex_contains(value, pattern) -%}
    ({{ value }} ~ {{ pattern }})
{%- endmacro %}

{#- Two given names that may belong to one person: equal, one a prefix of the other (an initial, a short form),
    or at most `identity_name_max_edits` edits apart (a typo). Unknown names never disagree. -#}
{% macro names_agree(a, b) -%}
    ({{ a }} is null or {{ b }} is null
     or {{ a }} = {{ b }}
     or left({{ a }}, length({{ b }})) = {{ b }} or left({{ b }}, length({{ a }})) = {{ a }}
     or {{ edit_distance(a, b) }} <= {{ var('identity_name_max_edits') }})
{%- endmacro %}

{% macro edit_distance(a, b) -%}
    {{ return(adapter.dispatch('edit_distance', 'journey_warehouse')(a, b)) }}
{%- endmacro %}

{% macro default__edit_distance(a, b) -%}
    editdistance({{ a }}, {{ b }})
{%- endmacro %}

{#- Transpositions count as one edit ("Mraia" for "Maria"). -#}
{% macro duckdb__edit_distance(a, b) -%}
    damerau_levenshtein({{ a }}, {{ b }})
{%- endmacro %}

{#- `relation`.`column` when the relation has it, else a typed null: lets the graph use a column that
    another change adds to staging (birth years, postcodes) without breaking before it lands. -#}
{% macro column_or_null(relation, column, data_type) -%}
    {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list if execute else [] -%}
    {%- if column | lower in names -%}
        cast({{ column }} as {{ data_type }})
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}

{#- jw_damerau_levenshtein: created on run start (macros/portability/engine_setup.sql). -#}
{% macro postgres__edit_distance(a, b) -%}
    public.jw_damerau_levenshtein({{ a }}, {{ b }})
{%- endmacro %}
