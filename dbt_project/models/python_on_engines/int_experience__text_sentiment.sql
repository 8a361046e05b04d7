{{ config(materialized='table', tags=['python_on_engines'], meta={'python_model': 'int_experience__text_sentiment'}) }}
-- The Python model int_experience__text_sentiment on engines without dbt Python models (macros/portability/python_model_output.sql).
-- depends_on: {{ ref('stg_shop__reviews') }}
-- depends_on: {{ ref('stg_social__interactions') }}
{{ python_model_output('int_experience__text_sentiment') }}
