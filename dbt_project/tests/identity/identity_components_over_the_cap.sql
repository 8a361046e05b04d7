-- Warns when a component grew past var('identity_max_component_size') records: its keys are in the report.
{{ config(severity='warn') }}
select * from {{ ref('identity_oversized_components') }}
