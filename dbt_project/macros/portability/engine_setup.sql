{#- Run at the start of every dbt invocation (on-run-start in dbt_project.yml): what the engine needs before any
    model. PostgreSQL: pgcrypto, for keyed_hash (macros/pseudonym.sql). -#}
{% macro engine_setup() -%}
    {{ return(adapter.dispatch('engine_setup')()) }}
{%- endmacro %}

{% macro default__engine_setup() -%}
    select 1
{%- endmacro %}

{% macro postgres__engine_setup() -%}
    create extension if not exists pgcrypto
{%- endmacro %}
