-- One row per history order (an imported past order, merged on history_order_id at load): who bought (the first
-- non-empty of shop customer, loyalty member, e-mail), when (a day; ordered_at is its midnight UTC), how much.
with source as (
    select * from {{ source('history', 'orders') }}
),

renamed as (
    select
        history_order_id,
        order_id,
        identifier_type,
        identifier_value,
        -- the identifier as the identity graph knows it: an e-mail only as its keyed hash
        case when identifier_type = 'history_email' then {{ keyed_hash(normalize_email('identifier_value')) }}
            else identifier_value end as identifier_pseudonym,
        shop_customer_id,
        loyalty_member_id,
        {{ normalize_email('email') }} as email_normalized,
        {{ keyed_hash(normalize_email('email')) }} as email_hash,
        cast(ordered_on as date) as ordered_on,
        -- midnight UTC of the day, whatever the session's time zone
        timezone('UTC', cast(ordered_on as timestamp)) as ordered_at,
        cast(amount as decimal(18, 2)) as amount,
        channel,
        source_file
    from source
)

select * from renamed
