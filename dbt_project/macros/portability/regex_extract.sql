{#- The `group`-th capture group of the first match of `pattern` in `value`; '' when nothing matches (DuckDB's
    regexp_extract), NULL for NULL. -#}
{% macro regex_extract(value, pattern, group=0) -%}
    {{ return(adapter.dispatch('regex_extract')(value, pattern, group)) }}
{%- endmacro %}

{% macro default__regex_extract(value, pattern, group=0) -%}
    regexp_extract({{ value }}, {{ pattern }}, {{ group }})
{%- endmacro %}

{% macro postgres__regex_extract(value, pattern, group=0) -%}
    {%- if group == 0 -%}
    case when {{ value }} is not null then coalesce(substring({{ value }} from {{ pattern }}), '') end
    {%- else -%}
    case when {{ value }} is not null then coalesce((regexp_match({{ value }}, {{ pattern }}))[{{ group }}], '') end
    {%- endif -%}
{%- endmacro %}
