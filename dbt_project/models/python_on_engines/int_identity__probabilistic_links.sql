{{ config(materialized='table', tags=['python_on_engines'], meta={'python_model': 'int_identity__probabilistic_links'}) }}
-- The Python model int_identity__probabilistic_links on engines without dbt Python models (macros/portability/python_model_output.sql).
-- depends_on: {{ ref('int_identity__match_records') }}
{{ python_model_output('int_identity__probabilistic_links') }}
