-- Warns when a component grew past var('identity_max_component_size') records: the keys cut or behind it are in
-- marts.identity_oversized_components; a component held together by record-to-record links (probabilistic,
-- shared-key pairs, card references) alone is counted here too. Sizes only, never a node id.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'identity_oversized_components'}}}) }}
select 'key' as finding, action, key_records as records
from {{ ref('identity_oversized_components') }}
union all
select 'component', 'kept', max(component_records)
from {{ ref('int_identity__components') }}
where is_record and component_records > {{ var('identity_max_component_size') }}
group by component
