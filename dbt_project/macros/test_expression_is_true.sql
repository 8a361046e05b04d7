{#- Generic test: every row satisfies `expression` (dbt_utils is not installable offline). -#}
{% test expression_is_true(model, expression, column_name=none) %}
select * from {{ model }} where not ({{ expression }})
{% endtest %}
