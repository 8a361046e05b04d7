-- Deterministic identity resolution: connected components of the identity graph. Every source identifier
-- gets the person_id of its component; the key is a hash of the component's smallest node, so it is
-- stable across runs and carries no e-mail address or other PII.
with recursive

undirected as (
    select node as node_a, linked_node as node_b from {{ ref('int_identity__edges') }}
    union
    select linked_node, node from {{ ref('int_identity__edges') }}
),

nodes as (
    select distinct node_a as node from undirected
),

reachable (node, root) as (
    select node, node from nodes
    union
    select undirected.node_b, reachable.root
    from reachable
    inner join undirected on undirected.node_a = reachable.node
),

components as (
    select node, min(root) as component_root
    from reachable
    group by node
),

source_identifiers as (
    select 'shop_customer' as identifier_type, shop_customer_id as identifier_value from {{ ref('stg_shop__customers') }}
    union
    select 'esp_contact', email_normalized from {{ ref('stg_esp__events') }} where email_normalized is not null
    union
    select 'social_handle', handle_normalized from {{ ref('stg_social__interactions') }}
    union
    select 'loyalty_member', loyalty_member_id from {{ ref('stg_loyalty__members') }}
    union
    select 'loyalty_card', card_number from {{ ref('stg_loyalty__cards') }}
    union
    select 'iot_device', device_id from {{ ref('stg_iot__devices') }} where opted_in
)

select
    source_identifiers.identifier_type,
    source_identifiers.identifier_value,
    'person_' || substr(md5(coalesce(components.component_root, source_identifiers.identifier_type || ':' || source_identifiers.identifier_value)), 1, 16) as person_id
from source_identifiers
left join components
    on components.node = source_identifiers.identifier_type || ':' || source_identifiers.identifier_value
