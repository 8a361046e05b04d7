-- What probabilistic matching compares: one row per shop customer, loyalty member, ESP contact and social handle,
-- with its node id (as in int_identity__edges) and comparable fields: names (lower case, letters only), postcode,
-- city, birth year, the last 6 digits of a phone, and a token of the e-mail's local part or the handle
-- (lower-case letters and digits: `anna.schmidt12@...` and `@Anna_Schmidt12` both give `annaschmidt12`).
-- A phone or token is left out where it says nothing about one person: a placeholder (`0000000000`), or a value
-- the data shows is shared (records carrying it name different people: a household's landline or family inbox),
-- or a mailbox whose name says it is shared (`familie.`, `info@`, `noreply@`, ...).
{% set min_distinct_digits = 3 %}
{% set same_first_name_similarity = 0.85 %}
{#- mailboxes of a family or an office, not of a person -#}
{% set generic_mailbox_words = ["familie", "family", "fam", "info", "kontakt", "contact", "office", "service", "noreply", "no-reply", "mail", "post"] %}

with shop as (
    select
        'shop_customer:' || shop_customer_id as node,
        'shop_customer' as record_type,
        shop_customer_id as record_key,
        first_name, last_name, postcode, city,
        cast(null as integer) as birth_year,
        phone_normalized as phone,
        split_part(email_normalized, '@', 1) as email_local
    from {{ ref('stg_shop__customers') }}
),

loyalty as (
    select
        'loyalty_member:' || loyalty_member_id,
        'loyalty_member',
        loyalty_member_id,
        first_name, last_name, postcode, city, birth_year,
        phone_normalized,
        split_part(email_normalized, '@', 1)
    from {{ ref('stg_loyalty__members') }}
),

esp as (
    -- one contact per address (the node the e-mail events resolve to); the newest profile if there are several
    select
        'esp_contact:' || email_hash,
        'esp_contact',
        esp_profile_id,
        first_name, last_name, postcode, city,
        cast(null as integer),
        cast(null as varchar),
        split_part(email_normalized, '@', 1)
    from (
        select
            *,
            row_number() over (
                partition by email_normalized order by updated_at desc nulls last, esp_profile_id
            ) as profile_rank
        from {{ ref('stg_esp__profiles') }}
        where email_normalized is not null
    ) as profiles
    where profile_rank = 1
),

social_names as (
    -- one record per handle: the display name it shows most often ("Anna Schmidt", "Anna S.", "anna", ...),
    -- and its first interaction (a reference to the handle that is not the handle itself)
    select handle_normalized, handle_hash, display_name, first_interaction_id
    from (
        select
            handle_normalized,
            handle_hash,
            display_name,
            min(min(interaction_id)) over (partition by handle_normalized) as first_interaction_id,
            row_number() over (partition by handle_normalized order by count(*) desc, display_name) as name_rank
        from {{ ref('stg_social__interactions') }}
        group by handle_normalized, handle_hash, display_name
    ) as names
    where name_rank = 1
),

social as (
    select
        'social_handle:' || handle_hash,
        'social_handle',
        first_interaction_id,
        split_part(trim(display_name), ' ', 1),
        -- a second word that is an initial ("S.") is no last name
        case when length({{ regex_replace_all("split_part(trim(display_name), ' ', 2)", "'[^[:alpha:]]'", "''") }}) > 1
            then split_part(trim(display_name), ' ', 2) end,
        cast(null as varchar), cast(null as varchar), cast(null as integer), cast(null as varchar),
        handle_normalized
    from social_names
),

records as (
    select * from shop
    union all
    select * from loyalty
    union all
    select * from esp
    union all
    select * from social
),

cleaned as (
    select
        node,
        record_type,
        record_key,
        nullif({{ regex_replace_all('lower(first_name)', "'[^[:alpha:]]'", "''") }}, '') as first_name,
        nullif({{ regex_replace_all('lower(last_name)', "'[^[:alpha:]]'", "''") }}, '') as last_name,
        nullif({{ regex_replace_all('postcode', "'[^0-9]'", "''") }}, '') as postcode,
        nullif(lower(trim(city)), '') as city,
        birth_year,
        -- the national number's digits; a placeholder has hardly any distinct digits
        case
            when {{ distinct_characters(
                regex_replace_all("regexp_replace(phone, '^(\\+49|0049|0)', '')", "'[^0-9]'", "''")
            ) }} >= {{ min_distinct_digits }}
            then right({{ regex_replace_all('phone', "'[^0-9]'", "''") }}, 6)
        end as phone_last6,
        case
            when not {{ regex_contains('lower(email_local)', "'^(" ~ generic_mailbox_words | join('|') ~ ")'") }}
            then nullif({{ regex_replace_all('lower(email_local)', "'[^a-z0-9]'", "''") }}, '')
        end as token
    from records
),

-- a phone or token is shared when two records carrying it have first names that are not one name mistyped
shared_phones as (
    select distinct a.phone_last6
    from cleaned as a
    inner join cleaned as b
        on a.phone_last6 = b.phone_last6 and a.node < b.node
    where {{ jaro_winkler('a.first_name', 'b.first_name') }} < {{ same_first_name_similarity }}
),

shared_tokens as (
    select distinct a.token
    from cleaned as a
    inner join cleaned as b
        on a.token = b.token and a.node < b.node
    where {{ jaro_winkler('a.first_name', 'b.first_name') }} < {{ same_first_name_similarity }}
)

select
    cleaned.node,
    cleaned.record_type,
    cleaned.record_key,
    cleaned.first_name,
    cleaned.last_name,
    cleaned.postcode,
    cleaned.city,
    cleaned.birth_year,
    case when shared_phones.phone_last6 is null then cleaned.phone_last6 end as phone_last6,
    case when shared_tokens.token is null then cleaned.token end as token
from cleaned
left join shared_phones on cleaned.phone_last6 = shared_phones.phone_last6
left join shared_tokens on cleaned.token = shared_tokens.token
