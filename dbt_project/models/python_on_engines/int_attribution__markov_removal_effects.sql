{{ config(materialized='table', tags=['python_on_engines'], meta={'python_model': 'int_attribution__markov_removal_effects'}) }}
-- The Python model int_attribution__markov_removal_effects on engines without dbt Python models (macros/portability/python_model_output.sql).
-- depends_on: {{ ref('int_attribution__channel_paths') }}
{{ python_model_output('int_attribution__markov_removal_effects') }}
