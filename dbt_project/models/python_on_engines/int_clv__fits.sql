{{ config(materialized='table', tags=['python_on_engines'], meta={'python_model': 'int_clv__fits'}) }}
-- The Python model int_clv__fits on engines without dbt Python models (macros/portability/python_model_output.sql).
-- depends_on: {{ ref('int_value__as_of') }}
-- depends_on: {{ ref('int_value__transactions') }}
{{ python_model_output('int_clv__fits') }}
