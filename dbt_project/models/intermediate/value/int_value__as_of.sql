-- One row: the moment every value model (and the CLV fit) looks at the data from, "today" in the data's own sense:
-- var `as_of` when set, else the newest touchpoint of marts.touchpoints (or purchase, whichever is later); never the
-- reader's clock. marts.touchpoints, not int_touchpoints: there a storefront device whose clock runs ahead has been
-- put back at the collector's time (in int_touchpoints it would move "today" months into the future).
with newest as (
    {%- if var('as_of') %}
    select cast('{{ var("as_of") }}' as timestamptz) as as_of_at
    {%- else %}
    select greatest(
        (select max(occurred_at) from {{ ref('touchpoints') }}),
        (select max(purchased_at) from {{ ref('int_value__transactions') }})
    ) as as_of_at
    {%- endif %}
)

select
    cast(as_of_at as timestamptz) as as_of_at,
    cast(timezone('UTC', cast(as_of_at as timestamptz)) as date) as as_of_date  -- the UTC day, whatever the session's zone
from newest
