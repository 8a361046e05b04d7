{{ config(materialized='table', tags=['python_on_engines'], meta={'python_model': 'int_clv__customer_predictions'}) }}
-- The Python model int_clv__customer_predictions on engines without dbt Python models (macros/portability/python_model_output.sql).
-- depends_on: {{ ref('int_clv__fits') }}
-- depends_on: {{ ref('int_value__transactions') }}
{{ python_model_output('int_clv__customer_predictions') }}
