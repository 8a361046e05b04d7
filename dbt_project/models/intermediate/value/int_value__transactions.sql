-- One row per purchase of a known person: paid online orders, POS receipts on a known card and imported historical
-- orders. Refunded, voided and cancelled orders, receipts without a known card and history rows that repeat a shop
-- order (same order id: the live order counts, whatever its status) are left out.
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
        on identities.identifier_type = 'loyalty_card' and identities.identifier_value = receipts.card_number
),

-- ---- HISTORY BRANCH: imported orders (stg_history__orders, v-gen) -------------------------------------------------
-- Filled in once stg_history__orders exists on this branch (git merge v-gen); until then no imported orders.
history_orders as (
    select
        cast(null as varchar) as transaction_id,
        cast(null as varchar) as person_id,
        'history' as source,
        cast(null as varchar) as channel,
        cast(null as timestamptz) as purchased_at,
        cast(null as decimal(18, 2)) as amount
    where false
),
-- ---- end of HISTORY BRANCH ------------------------------------------------------------------------------------------

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
