-- Borderline pairs for a person to review: scored by the probabilistic model at or above the review threshold but
-- below the link threshold, so not linked. Records are named by their source systems' own ids (shop customer id,
-- loyalty member id, ESP profile id, the social handle's first interaction id), never by an e-mail, name or phone.
with links as (
    select * from {{ ref('int_identity__probabilistic_links') }}
    where match_probability >= {{ var('identity_review_threshold') }}
      and match_probability < {{ var('identity_link_threshold') }}
),

records as (
    select node, record_type, record_key from {{ ref('int_identity__match_records') }}
)

select
    a.record_type || ':' || a.record_key || '|' || b.record_type || ':' || b.record_key as review_pair_id,
    a.record_type as record_type_a,
    a.record_key as record_id_a,
    b.record_type as record_type_b,
    b.record_key as record_id_b,
    links.match_probability,
    links.match_weight,
    links.gamma_first_name as first_name_level,
    links.gamma_last_name as last_name_level,
    links.gamma_postcode_city as home_level,
    links.gamma_birth_year as birth_year_level,
    links.gamma_phone_last6 as phone_level,
    links.gamma_token as email_or_handle_level
from links
inner join records as a on links.node_a = a.node
inner join records as b on links.node_b = b.node
