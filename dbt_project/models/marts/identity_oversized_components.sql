-- The match keys behind components larger than var('identity_max_component_size') records: those cut from
-- the graph by the cap, and those of a component still over it (no key carries 3 records or more). Keys appear
-- only as a keyed hash; the records on them only by ids that are no personal data (shop customer, loyalty
-- member and card, device ids).
{%- set non_pii_kinds = ['shop_customer', 'loyalty_member', 'loyalty_card', 'iot_device'] %}

with keys as (
    select node, key_type, key_token, key_records, cut_by_size_cap,
        case when cut_by_size_cap then cut_from_records else component_records end as component_records
    from {{ ref('int_identity__components') }}
    where not is_record
      and (cut_by_size_cap or component_records > {{ var('identity_max_component_size') }})
),

records_on_keys as (
    select keys.node as key_node, edges.node as record, row_number() over (partition by keys.node order by edges.node) as n
    from keys
    inner join {{ ref('int_identity__edges') }} as edges on edges.linked_node = keys.node
    where split_part(edges.node, ':', 1) in ('{{ non_pii_kinds | join("', '") }}')
),

samples as (
    select key_node, {{ ordered_string_agg('record', "', '", 'record') }} as records_sample
    from records_on_keys
    where n <= 5
    group by key_node
)

select
    cast(keys.key_type as varchar) as key_type,
    cast(keys.key_token as varchar) as key_token,
    cast(keys.key_records as bigint) as key_records,
    cast(keys.component_records as bigint) as component_records,
    cast(case when keys.cut_by_size_cap then 'cut' else 'kept' end as varchar) as action,
    cast(samples.records_sample as varchar) as records_sample
from keys
left join samples on samples.key_node = keys.node
