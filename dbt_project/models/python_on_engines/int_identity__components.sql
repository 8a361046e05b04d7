{{ config(materialized='table', tags=['python_on_engines'], meta={'python_model': 'int_identity__components'}) }}
-- The Python model int_identity__components on engines without dbt Python models (macros/portability/python_model_output.sql).
-- depends_on: {{ ref('int_identity__edges') }}
-- depends_on: {{ ref('int_identity__records') }}
{{ python_model_output('int_identity__components') }}
