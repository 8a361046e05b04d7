-- One row per storefront web-analytics event (anonymous visitors included).
select
    event_id as storefront_event_id,
    user_id as shop_customer_id,
    domain_sessionid as session_id,
    event as event_type,
    cast(product_id as varchar) as product_id,
    {{ utc('derived_tstamp') }} as occurred_at,
    domain_userid as visitor_id,
    page_url,
    page_urlpath as page_path,
    mkt_source as utm_source,
    mkt_medium as utm_medium,
    mkt_campaign as utm_campaign,
    {{ utc('collector_tstamp') }} as received_at
from {{ source('shop', 'events') }}
