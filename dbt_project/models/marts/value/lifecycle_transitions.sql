-- One row per calendar month (UTC) and move from one lifecycle stage to another in it: how many persons moved
-- (marts.customer_lifecycle_history; a person's first stage is no move).
select
    cast(date_trunc('month', valid_from) as date) as month,
    previous_stage as from_stage,
    stage as to_stage,
    count(distinct person_id) as persons,
    count(*) as moves
from {{ ref('customer_lifecycle_history') }}
where previous_stage is not null
group by 1, 2, 3
