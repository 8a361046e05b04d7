{#- Confidence intervals of marts.campaign_evaluation (the choices in models/marts/campaigns/_campaigns__docs.md). -#}

{#- The two-sided 95 % quantile of Student's t with `df` degrees of freedom (a SQL expression): the Cornish-Fisher
    expansion around z = 1.959964 to the fourth order (Abramowitz & Stegun 26.7.5); off by less than 1 % from
    df = 2 on, 0.12 % at df = 3, exact in the limit. DuckDB has no t quantile. -#}
{% macro t_quantile_975(df) -%}
    (1.959963984540054
        + 2.372271230298562 / ({{ df }})
        + 2.822498615739611 / power({{ df }}, 2)
        + 2.555849679507722 / power({{ df }}, 3)
        + 1.589534053393823 / power({{ df }}, 4))
{%- endmacro %}

{#- Wilson's score interval of a proportion: `converters` of `people`; side 'low' or 'high'. -#}
{% macro wilson_bound(converters, people, side) -%}
    {%- set z2 = '3.841458820694124' -%}
    {%- set rate = '(cast((' ~ converters ~ ') as double precision) / (' ~ people ~ '))' -%}
    (
        ({{ rate }} + {{ z2 }} / (2.0 * ({{ people }})))
        {{ '-' if side == 'low' else '+' }} 1.959963984540054 * sqrt(
            {{ rate }} * (1 - {{ rate }}) / ({{ people }}) + {{ z2 }} / (4.0 * ({{ people }}) * ({{ people }}))
        )
    ) / (1 + {{ z2 }} / ({{ people }}))
{%- endmacro %}
