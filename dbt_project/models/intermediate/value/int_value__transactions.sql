-- One row per purchase of a known person: paid online orders, POS receipts on a known card and imported historical
-- orders (stg_history__orders). Refunded, voided and cancelled orders, receipts without a known card and history rows
-- that repeat a shop order (same order id: the live order counts, whatever its status) are left out.
with identities as (
    select identifier_type, identifier_value, person_id
    from {{ ref('int_identity__identifier_map') }}
    where person_id is not null
),

shop_orders as (
    select
        orders.order_id as transaction_id,
        identities.person_id,
        'shop' as source,
        'online' as channel,
        timezone('UTC', orders.ordered_at) as purchased_at,  -- staging keeps UTC wall-clock time without a zone
        orders.total_price as amount
    from {{ ref('stg_shop__orders') }} as orders
    inner join identities
        on identities.identifier_type = 'shop_customer' and identities.identifier_value = orders.shop_customer_id
    where orders.is_revenue and orders.cancelled_at is null
),

pos_receipts as (
    select
        receipts.receipt_id as transaction_id,
        identities.person_id,
        'pos' as source,
        'pos' as channel,
        receipts.purchased_at,
        receipts.total_amount as amount
    from {{ ref('stg_loyalty__receipts') }} as receipts
    inner join identities
        on identities.identifier_type = 'loyalty_card' and identities.identifier_value = receipts.card_number_hash
),

-- imported orders (JW_HISTORY_DIR): the person of the identifier the row names; a row without a channel is online
-- when it names a shop customer or only an e-mail, pos when it names a loyalty member. A row whose order id is a shop
-- order's repeats that order (the export overlaps the live data): the shop order counts, whatever its status.
history_orders as (
    select
        history.history_order_id as transaction_id,
        identities.person_id,
        'history' as source,
        coalesce(history.channel, case when history.identifier_type = 'loyalty_member' then 'pos' else 'online' end) as channel,
        history.ordered_at as purchased_at,
        history.amount
    from {{ ref('stg_history__orders') }} as history
    inner join identities
        on identities.identifier_type = history.identifier_type and identities.identifier_value = history.identifier_pseudonym
    where history.order_id is null
        or history.order_id not in (select order_id from {{ ref('stg_shop__orders') }} where order_id is not null)
),

purchases as (
    select * from shop_orders
    union all
    select * from pos_receipts
    union all
    select * from history_orders
)

select
    cast(transaction_id as varchar) as transaction_id,
    person_id,
    source,
    channel,
    cast(purchased_at as timestamptz) as purchased_at,
    cast(timezone('UTC', cast(purchased_at as timestamptz)) as date) as purchase_date,
    cast(amount as decimal(18, 2)) as amount
from purchases
