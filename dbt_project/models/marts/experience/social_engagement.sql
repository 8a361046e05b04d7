-- One row per person and UTC month with a social interaction: interactions by type, the texts the person wrote
-- (comments, mentions, share messages) and their sentiment (intermediate.int_experience__text_sentiment), and the
-- distinct posts engaged with and their reach (the page's post insight).
with interactions as (
    select
        identities.person_id,
        cast(date_trunc('month', timezone('UTC', interactions.occurred_at)) as date) as month,
        interactions.interaction_id,
        interactions.interaction_type,
        interactions.post_id
    from {{ ref('stg_social__interactions') }} as interactions
    inner join {{ ref('int_identity__identifier_map') }} as identities
        on identities.identifier_type = 'social_handle' and identities.identifier_value = interactions.handle_hash
),

sentiment as (
    select text_id, sentiment_score, sentiment_label
    from {{ ref('int_experience__text_sentiment') }}
    where source = 'social'
),

per_month as (
    select
        interactions.person_id,
        interactions.month,
        count(case when interactions.interaction_type = 'like' then 1 end) as likes,
        count(case when interactions.interaction_type = 'share' then 1 end) as shares,
        count(case when interactions.interaction_type = 'comment' then 1 end) as comments,
        count(case when interactions.interaction_type = 'mention' then 1 end) as mentions,
        count(case when interactions.interaction_type = 'check_in' then 1 end) as check_ins,
        count(*) as interactions,
        count(sentiment.text_id) as texts,
        avg(sentiment.sentiment_score) as avg_sentiment,
        count(case when sentiment.sentiment_label = 'negative' then 1 end) as negative_texts,
        count(distinct interactions.post_id) as posts_engaged
    from interactions
    left join sentiment on sentiment.text_id = 'social:' || interactions.interaction_id
    group by interactions.person_id, interactions.month
),

-- each post's reach counts once per person and month, however often the person engaged with it
post_reach as (
    select
        engaged.person_id,
        engaged.month,
        sum(posts.reach) as reach_of_posts_engaged
    from (select distinct person_id, month, post_id from interactions where post_id is not null) as engaged
    inner join {{ ref('stg_social__posts') }} as posts on engaged.post_id = posts.post_id
    group by engaged.person_id, engaged.month
)

select
    per_month.person_id,
    per_month.month,
    per_month.likes,
    per_month.shares,
    per_month.comments,
    per_month.mentions,
    per_month.check_ins,
    per_month.interactions,
    per_month.texts,
    cast({{ round_to('per_month.avg_sentiment', 4) }} as double precision) as avg_sentiment,
    case when per_month.texts > 0 then cast({{ round_to('cast(per_month.negative_texts as double precision) / per_month.texts', 4) }} as double precision) end
        as negative_text_share,
    per_month.posts_engaged,
    cast(post_reach.reach_of_posts_engaged as bigint) as reach_of_posts_engaged
from per_month
left join post_reach on per_month.person_id = post_reach.person_id and per_month.month = post_reach.month
