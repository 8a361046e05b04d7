{#- Incremental models with a lookback window (var `lookback_days`, default 3). See models/marts/journeys/touchpoints.sql.

    lookback_since(column): the earliest time an incremental run looks at again: `column`'s newest value in
    {{ this }} less var('lookback_days') days. Rows whose own time (event or update) is at or after it are rebuilt;
    rows that arrive later than that, dated earlier, are only found by --full-refresh. `where` leaves out rows whose
    time is not to be trusted (a device clock running ahead would move the window into the future).

    changed_identifiers(identifier_type): the identifier values whose person changed (or that appeared or went)
    in this dbt invocation (intermediate.int_identity__identifier_changes). #}
{% macro lookback_since(column='occurred_at', where=none) -%}
    (select {{ dbt.dateadd('day', -(var('lookback_days', 3) | int), 'max(' ~ column ~ ')') }} from {{ this }}
     {%- if where %} where {{ where }}{% endif %})
{%- endmacro %}

{% macro changed_identifiers(identifier_type) -%}
    (select identifier_value from {{ ref('int_identity__identifier_changes') }}
     where changed_in = '{{ invocation_id }}' and identifier_type = '{{ identifier_type }}')
{%- endmacro %}

{#- Every touchpoint_id marts.touchpoints holds when built in full (its post-hook deletes the others). #}
{% macro touchpoint_source_ids() -%}
    select 'storefront:' || storefront_event_id from {{ ref('int_journey__stitched_events') }}
    union all select 'order:' || order_id from {{ ref('stg_shop__orders') }}
    union all select 'checkout:' || checkout_id from {{ ref('stg_shop__abandoned_checkouts') }}
    union all select 'email:' || email_event_id from {{ ref('stg_esp__events') }} where event_type != 'control'
    union all select 'social:' || interaction_id from {{ ref('stg_social__interactions') }}
    union all select 'receipt:' || receipt_id from {{ ref('stg_loyalty__receipts') }}
    union all select 'points:' || points_txn_id from {{ ref('stg_loyalty__points') }}
    union all select 'iot:' || reading_id from {{ ref('stg_iot__readings') }}
{%- endmacro %}
