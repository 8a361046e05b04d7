{#- Canonical forms the identity graph joins on. Plain SQL functions, portable across engines. -#}
{% macro normalize_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{% macro normalize_handle(column) -%}
    nullif(lower(ltrim(trim({{ column }}), '@')), '')
{%- endmacro %}

{% macro normalize_phone(column) -%}
    nullif(regexp_replace(trim({{ column }}), '[^0-9+]', '', 'g'), '')
{%- endmacro %}

{#- Timestamps in the warehouse are UTC without a zone (the profile pins the session to UTC). -#}
{% macro utc(column) -%}
    cast({{ column }} as timestamp)
{%- endmacro %}

{% macro money(column) -%}
    cast({{ column }} as decimal(12, 2))
{%- endmacro %}
