{#- The RFM segments of marts.customer_rfm, in the order the rules are tried (the docs' table, _value__docs.md). -#}
{% macro rfm_segments() -%}
    {{ return(['champions', 'loyal', 'potential', 'new', 'at risk', 'cannot lose', 'hibernating', 'lost']) }}
{%- endmacro %}

{#- The segment of quintile scores r, f, m (SQL expressions, 1-5) and the number of purchases `frequency`. -#}
{% macro rfm_segment(r, f, m, frequency) -%}
    case
        when {{ r }} >= 4 and ({{ f }} + {{ m }}) >= 8 then 'champions'
        when {{ r }} >= 4 and {{ frequency }} = 1 then 'new'
        when {{ r }} >= 3 and ({{ f }} + {{ m }}) >= 6 then 'loyal'
        when {{ r }} >= 3 then 'potential'
        when ({{ f }} + {{ m }}) >= 8 then 'cannot lose'
        when ({{ f }} + {{ m }}) >= 6 then 'at risk'
        when {{ r }} = 2 then 'hibernating'
        else 'lost'
    end
{%- endmacro %}

{#- The lifecycle stages of marts.customer_lifecycle_history. -#}
{% macro lifecycle_stages() -%}
    {{ return(['prospect', 'new', 'active', 'at risk', 'lapsed', 'reactivated']) }}
{%- endmacro %}
