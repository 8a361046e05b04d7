-- One row per negative text of a known customer that asks for a service follow-up: a social mention or a product
-- review that intermediate.int_experience__text_sentiment labels negative, written by a known customer: a person the
-- identity graph resolved the writer's handle or shop account to (a text of nobody known raises no alert).
with identities as (
    select * from {{ ref('int_identity__identifier_map') }}
),

negative_texts as (
    select *
    from {{ ref('int_experience__text_sentiment') }}
    where sentiment_label = 'negative' and kind in ('mention', 'review')
),

social_channels as (
    select 'social:' || interaction_id as text_id, channel from {{ ref('stg_social__interactions') }}
)

select
    'alert:' || negative_texts.text_id as alert_id,
    identities.person_id,
    negative_texts.text_id,
    case negative_texts.kind when 'review' then 'negative_review' else 'negative_mention' end as reason,
    coalesce(social_channels.channel, 'shop') as channel,
    negative_texts.occurred_at,
    negative_texts.sentiment_score
from negative_texts
inner join identities
    on negative_texts.identifier_type = identities.identifier_type
    and negative_texts.identifier_value = identities.identifier_value
left join social_channels on negative_texts.text_id = social_channels.text_id
