-- One row per storefront event id: the collector's duplicates collapsed (the first copy it received wins),
-- the time it happened corrected for bad device clocks, and the e-mail link token of a tracked landing URL.
--
-- Clock rule: an event cannot happen after the collector received it. When the device's time
-- (derived_tstamp) is later than the collector's (collector_tstamp) the device clock is wrong, and the event
-- is placed at collector_tstamp. Late events (sent hours after they happened by a device that was offline)
-- keep their device time: it is earlier than the collector's, and right.
with events as (
    select
        *,
        row_number() over (partition by storefront_event_id order by received_at, occurred_at) as copy_number
    from {{ ref('stg_shop__events') }}
)

select
    storefront_event_id,
    visitor_id,
    shop_customer_id,
    event_type,
    product_id,
    page_url,
    page_path,
    nullif(utm_source, '') as utm_source,
    nullif(utm_medium, '') as utm_medium,
    nullif(utm_campaign, '') as utm_campaign,
    -- Klaviyo's tracked links carry the profile in `_kx`
    nullif({{ regex_extract('page_url', "'[?&]_kx=([^&#]+)'", 1) }}, '') as email_link_profile_id,
    case when occurred_at > received_at then received_at else occurred_at end as occurred_at,
    occurred_at > received_at as device_clock_ahead,
    received_at
from events
where copy_number = 1
