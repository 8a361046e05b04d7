{{ config(meta={'dagster': {'ref': {'name': 'customer_lifecycle_history'}}}) }}  {#- the Dagster asset this check belongs to #}
-- marts.customer_lifecycle_history is a type-2 history without gap or overlap: every person of the identifier map
-- has rows, the first from the day the warehouse first knows of them, each ending the day the next begins, and only
-- the last open (current). Returns each person and row where that does not hold, with what is wrong.
with history as (
    select
        *,
        lead(valid_from) over (partition by person_id order by valid_from) as next_valid_from,
        row_number() over (partition by person_id order by valid_from) as row_number,
        count(*) over (partition by person_id) as rows_of_person
    from {{ ref('customer_lifecycle_history') }}
),

people as (
    select * from {{ ref('int_value__people') }}
)

select person_id, valid_from, 'a gap or an overlap with the next row' as problem
from history
where row_number < rows_of_person and (valid_to is null or valid_to <> next_valid_from)
union all
select person_id, valid_from, 'the last row is not the open current one'
from history
where row_number = rows_of_person and (valid_to is not null or not is_current)
union all
select person_id, valid_from, 'an open or current row before the last'
from history
where row_number < rows_of_person and (valid_to is null or is_current)
union all
select people.person_id, null, 'a person without history'
from people
left join history on people.person_id = history.person_id
where history.person_id is null
union all
select history.person_id, history.valid_from, 'history does not start on the day the person is first known'
from history
inner join people on history.person_id = people.person_id
where history.row_number = 1 and history.valid_from <> people.first_known_date
union all
select history.person_id, history.valid_from, 'a person not in the identifier map'
from history
left join people on history.person_id = people.person_id
where people.person_id is null
