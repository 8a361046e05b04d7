-- One row per UTC day, channel and language with a scored text: every text people wrote (social comments, mentions
-- and share messages, product reviews; intermediate.int_experience__text_sentiment), whoever wrote it, counted with
-- its sentiment. No text and no person here: a count per day is what the experience page charts.
with texts as (
    select * from {{ ref('int_experience__text_sentiment') }}
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
