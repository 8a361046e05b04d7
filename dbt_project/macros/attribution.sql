{#- The attribution models of marts.attribution, in the order marts show them. -#}
{% macro attribution_models() -%}
    {{ return(['first_touch', 'last_touch', 'linear', 'time_decay', 'position_based', 'markov']) }}
{%- endmacro %}

{#- Aggregates over rows of marts.attribution: credit and attributed revenue, one pair of columns per model. -#}
{% macro sum_attributed_by_model() -%}
    {%- for model in attribution_models() %}
    sum(case when model = '{{ model }}' then credit else 0 end) as attributed_conversions_{{ model }},
    sum(case when model = '{{ model }}' then attributed_revenue else 0 end) as attributed_revenue_{{ model }}
    {{- "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The columns of sum_attributed_by_model() from `relation` (left-joined: 0 where it has no row), as doubles. -#}
{% macro attributed_by_model_columns(relation) -%}
    {%- for model in attribution_models() %}
    cast(coalesce({{ relation }}.attributed_conversions_{{ model }}, 0) as double precision) as attributed_conversions_{{ model }},
    cast(coalesce({{ relation }}.attributed_revenue_{{ model }}, 0) as double precision) as attributed_revenue_{{ model }}
    {{- "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}
