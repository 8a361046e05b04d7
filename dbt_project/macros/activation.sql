{#- Activation: holdouts, and the segments and campaigns defined in
    models/marts/activation/_activation__models.yml (config.meta of segment_membership and campaign_plan). -#}

{#- The holdout bucket in [0, 1) of a person for a campaign: the first 8 hex digits of
    SHA-256("<campaign_id>:<person_id>") as an integer over 16^8. Equal to Python's
    activation.holdout.holdout_bucket (the real-time path decides with it), so both paths put a person in the same
    arm; held out when the bucket is below the campaign's holdout share. -#}
{% macro holdout_bucket(person_id, campaign_id) -%}
    ({{ hex_to_integer('left(' ~ sha256_hex('(' ~ campaign_id ~ ") || ':' || (" ~ person_id ~ ')') ~ ', 8)') }} / 4294967296.0)
{%- endmacro %}

{#- The config.meta of an activation model, from the graph (so one YAML file feeds every model). Empty at parse
    time, when dbt has no graph yet. -#}
{% macro activation_meta(model_name) -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == model_name -%}
            {{- return(node.config.meta or {}) -}}
        {%- endfor -%}
    {%- endif -%}
    {{- return({}) -}}
{%- endmacro %}

{#- A SQL literal: null, a number or a quoted string. -#}
{% macro activation_literal(value) -%}
    {%- if value is none -%} null
    {%- elif value is number -%} {{ value }}
    {%- else -%} '{{ value | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#- The campaigns as a relation: campaign_id, segment_id, trigger, destination, template, priority, holdout_share
    (0.10 when not set). -#}
{% macro activation_campaigns() -%}
    {%- set campaigns = activation_meta('campaign_plan').get('campaigns', []) -%}
    select
        cast(campaign_id as varchar) as campaign_id,
        cast(segment_id as varchar) as segment_id,
        cast(trigger_topic as varchar) as trigger_topic,
        cast(destination as varchar) as destination,
        cast(template as varchar) as template,
        cast(priority as integer) as priority,
        cast(holdout_share as double precision) as holdout_share
    from (values
        {%- for c in campaigns %}
        ({{ activation_literal(c.campaign_id) }}, {{ activation_literal(c.get('segment_id')) }},
         {{ activation_literal(c.get('trigger')) }}, {{ activation_literal(c.destination) }},
         {{ activation_literal(c.get('template')) }}, {{ activation_literal(c.priority) }},
         {{ activation_literal(c.get('holdout_share') if c.get('holdout_share') is not none else 0.10) }}){{ ',' if not loop.last }}
        {%- else %}
        (null, null, null, null, null, null, null)
        {%- endfor %}
    ) as campaigns (campaign_id, segment_id, trigger_topic, destination, template, priority, holdout_share)
    where campaign_id is not null
{%- endmacro %}
