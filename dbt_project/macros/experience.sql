-- Whole UTC days from the UTC day of `column` (a timestamptz) to `as_of_date` (a date in scope); null stays null.
{% macro days_since_as_of(column) -%}
    {{ days_between("cast(timezone('UTC', " ~ column ~ ") as date)", 'as_of_date') }}
{%- endmacro %}

-- One part of marts.customer_engagement's engagement score: the part's weight (points) times
-- 1 - 2^(-activity / half), where half is the activity that earns half of them (vars engagement_weights and
-- engagement_half_activity). 0 without activity, rising with every unit of it, never above the weight.
{% macro engagement_part(activity, name) -%}
    {{ var('engagement_weights')[name] }} * (1 - pow(2, -cast(({{ activity }}) as double precision) / {{ var('engagement_half_activity')[name] }}))
{%- endmacro %}
