-- One row per segment and current member: the memberships of marts.segment_membership whose latest row is
-- `entered`, with when the person entered (the latest entry: a person who left and came back entered anew).
select
    cast(segment_id as varchar) as segment_id,
    cast(person_id as varchar) as person_id,
    evaluated_at as entered_at,
    as_of as entered_as_of
from (
    select
        *,
        row_number() over (partition by segment_id, person_id order by evaluated_at desc nulls last) as newest
    from {{ ref('segment_membership') }}
) as memberships
where newest = 1 and event = 'entered'
