-- The identity graph: every source record is a node; it links to the match keys it carries (normalised
-- e-mail, phone, social handle), to the records it references (card -> member) and to the records the
-- probabilistic matcher links it to. Guard rails keep keys that say nothing about one person out:
--   * placeholders: keys matching an `ignore` pattern of the `identity_blocklist` seed (noreply@, +490000000000);
--   * per-type limits: a key carried by more records of one kind than `identity_max_records_per_key` allows
--     for its type (a shop's default phone on many accounts);
--   * shared keys found by the data: a key whose records disagree on who they are (a family inbox, a household
--     landline: given names that are not one name with a typo or a short form, or birth years apart). Such a
--     key links only the records on it that agree with each other, directly, and nothing else. Keys matching a
--     `shared` pattern of the seed (familie.<name>@...) are treated so even when the data shows no disagreement
--     (a family inbox on one named record and a nameless ESP contact).
-- Keys and records that are personal data (e-mails, phones, handles, card numbers) are nodes by their keyed hash
-- (`email:<hash>`): the clear values are compared here (placeholders, names) and never written out.
-- The cap on component size is applied where components are computed (int_identity__components).
{%- set limits = var('identity_max_records_per_key') %}

with shop_customers as (
    select 'shop_customer:' || shop_customer_id as node, email_normalized, phone_normalized,
        social_handle_normalized, email_hash, phone_hash, social_handle_hash, lower(trim(first_name)) as first_name,
        {{ column_or_null(ref('stg_shop__customers'), 'birth_year', 'integer') }} as birth_year
    from {{ ref('stg_shop__customers') }}
),

loyalty_members as (
    select 'loyalty_member:' || loyalty_member_id as node, email_normalized, phone_normalized, email_hash, phone_hash,
        lower(trim(first_name)) as first_name,
        {{ column_or_null(ref('stg_loyalty__members'), 'birth_year', 'integer') }} as birth_year
    from {{ ref('stg_loyalty__members') }}
),

esp_names as (
    select email_normalized,
        min(lower(trim({{ column_or_null(ref('stg_esp__profiles'), 'first_name', 'varchar') }}))) as first_name
    from {{ ref('stg_esp__profiles') }}
    where email_normalized is not null
    group by email_normalized
),

record_keys as (
    select node, 'email' as key_type, email_normalized as key_value, email_hash as key_hash, first_name, birth_year
    from shop_customers where email_normalized is not null
    union all
    select node, 'phone', phone_normalized, phone_hash, first_name, birth_year from shop_customers where phone_normalized is not null
    union all
    select node, 'handle', social_handle_normalized, social_handle_hash, first_name, birth_year
    from shop_customers where social_handle_normalized is not null
    union all
    select distinct 'esp_contact:' || events.email_hash, 'email', events.email_normalized, events.email_hash,
        esp_names.first_name,
        cast(null as integer)
    from {{ ref('stg_esp__events') }} as events
    left join esp_names on events.email_normalized = esp_names.email_normalized
    where events.email_normalized is not null
    union all
    select distinct 'social_handle:' || handle_hash, 'handle', handle_normalized, handle_hash, cast(null as varchar),
        cast(null as integer)
    from {{ ref('stg_social__interactions') }}
    union all
    select node, 'email', email_normalized, email_hash, first_name, birth_year from loyalty_members where email_normalized is not null
    union all
    select node, 'phone', phone_normalized, phone_hash, first_name, birth_year from loyalty_members where phone_normalized is not null
    union all
    select 'iot_device:' || device_id, 'email', owner_email_normalized, owner_email_hash, cast(null as varchar),
        cast(null as integer)
    from {{ ref('stg_iot__devices') }} where opted_in and owner_email_normalized is not null
    union all
    -- imported orders: the customer they name carries the e-mail the row gives too (an e-mail-only customer is a
    -- history_email record on that e-mail)
    select distinct identifier_type || ':' || identifier_pseudonym, 'email', email_normalized, email_hash,
        cast(null as varchar),
        cast(null as integer)
    from {{ ref('stg_history__orders') }} where email_normalized is not null
),

keyed as (
    select node, key_type, key_value, key_hash, first_name, birth_year, match_key, record_kind
    from (
        select
            record_keys.*,
            key_type || ':' || key_hash as match_key,
            split_part(node, ':', 1) as record_kind,
            -- a record carrying one key twice (its own e-mail repeated by an imported order): once, with what it says
            row_number() over (
                partition by node, key_type, key_value order by first_name nulls last, birth_year nulls last
            ) as key_rank
        from record_keys
    ) as ranked_keys
    where key_rank = 1
),

listed_keys as (
    select distinct keyed.match_key, blocklist.action
    from keyed
    inner join {{ ref('identity_blocklist') }} as blocklist
        on keyed.key_type = blocklist.key_type and {{ regex_contains('keyed.key_value', 'blocklist.pattern') }}
),

placeholder_keys as (
    select match_key from listed_keys where action = 'ignore'
),

over_limit_keys as (
    select match_key
    from keyed
    group by match_key, key_type, record_kind
    having count(distinct node) > case key_type
        {%- for key_type, limit in limits.items() %} when '{{ key_type }}' then {{ limit }}{% endfor %}
        else {{ limits.get('default', 2) }} end
),

usable as (
    select * from keyed
    where match_key not in (select match_key from placeholder_keys)
      and match_key not in (select match_key from over_limit_keys)
),

-- pairs of records on one key, both with something to compare
record_pairs as (
    select a.match_key, a.node as node_a, b.node as node_b,
        not {{ names_agree('a.first_name', 'b.first_name') }}
            or coalesce(abs(a.birth_year - b.birth_year) > {{ var('identity_birth_year_tolerance') }}, false) as disagree,
        (a.first_name is not null and b.first_name is not null)
            or (a.birth_year is not null and b.birth_year is not null) as comparable
    from usable as a
    inner join usable as b on a.match_key = b.match_key and a.node < b.node
),

shared_keys as (
    select match_key from record_pairs where disagree
    union
    select match_key from listed_keys where action = 'shared'
),

probabilistic as (
    select node_a, node_b
    from {{ ref('int_identity__probabilistic_links') }}
    where match_probability >= {{ var('identity_link_threshold') }}
)

select node, match_key as linked_node, 'match_key' as link_type
from usable
where match_key not in (select match_key from shared_keys)
union all
select node_a, node_b, 'shared_key'
from record_pairs
where match_key in (select match_key from shared_keys) and comparable and not disagree
union all
select 'loyalty_card:' || card_number_hash, 'loyalty_member:' || loyalty_member_id, 'reference'
from {{ ref('stg_loyalty__cards') }}
union all
select node_a, node_b, 'probabilistic' from probabilistic
