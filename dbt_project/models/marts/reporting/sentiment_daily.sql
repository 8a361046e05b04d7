-- One row per UTC day, channel and language with a scored text: every text people wrote (social comments, mentions
-- and share messages, product reviews; intermediate.int_experience__text_sentiment), whoever wrote it, counted with
-- its sentiment. No text and no person here: a count per day is what the experience page charts.
--
-- Incremental (macros/incremental.sql), replaced by day: a run rebuilds the days from var lookback_days before the
-- newest day built, and the day of every text written or edited since then (an edited comment changes its day's
-- counts, whatever its age). A text deleted at the source (an erasure) leaves its day as it was until a day of
-- that text is rebuilt or --full-refresh.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='date_day',
        on_schema_change='fail',
    )
}}
{%- set incremental = is_incremental() %}
-- depends_on: {{ ref('stg_shop__reviews') }}
with
{%- if incremental %}
since as (  -- midnight UTC, lookback_days before the newest day built
    select timezone('UTC', cast(max(date_day) - {{ var('lookback_days', 3) | int }} as timestamp)) as since_at from {{ this }}
),

changed_days as (
    select cast(timezone('UTC', occurred_at) as date) as day from {{ ref('stg_social__interactions') }}
    where greatest(occurred_at, updated_at) >= (select since_at from since)
    union
    select cast(timezone('UTC', created_at) as date) from {{ ref('stg_shop__reviews') }}
    where greatest(created_at, updated_at) >= (select since_at from since)
    union
    select cast(timezone('UTC', occurred_at) as date) from {{ ref('int_experience__text_sentiment') }}
    where occurred_at >= (select since_at from since)
),
{%- endif %}

texts as (
    select * from {{ ref('int_experience__text_sentiment') }}
    {%- if incremental %}
    where cast(timezone('UTC', occurred_at) as date) in (select day from changed_days)
    {%- endif %}
),

social_channels as (
    select 'social:' || interaction_id as text_id, channel from {{ ref('stg_social__interactions') }}
)

select
    cast(timezone('UTC', texts.occurred_at) as date) as date_day,
    cast(coalesce(social_channels.channel, 'shop') as varchar) as channel,
    cast(coalesce(texts.language, 'unknown') as varchar) as language,
    count(*) as texts,
    count(*) filter (where texts.sentiment_label = 'negative') as negative_texts,
    count(*) filter (where texts.sentiment_label = 'neutral') as neutral_texts,
    count(*) filter (where texts.sentiment_label = 'positive') as positive_texts,
    cast(sum(texts.sentiment_score) as double precision) as sentiment_score_sum,
    cast({{ round_to('avg(texts.sentiment_score)', 4) }} as double precision) as avg_sentiment
from texts
left join social_channels on texts.text_id = social_channels.text_id
where texts.occurred_at is not null
group by 1, 2, 3
