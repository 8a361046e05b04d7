{#- Engines without dbt Python models (PostgreSQL; dbt-duckdb runs them natively): the stand-in SQL model of a Python
    model (models/python_on_engines/<name>.sql, enabled on those engines only) selects what
    orchestration.lib.engine_python wrote: the Python model's own model(dbt, session) run on an in-process DuckDB
    over its parents read from the engine, into the table python_models.<name>. Same code, same results. -#}
{% macro python_model_output(name) -%}
    select * from python_models.{{ name }}
{%- endmacro %}
