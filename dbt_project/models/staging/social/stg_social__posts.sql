select
    id as post_id,
    channel,
    post_type,
    {{ utc('published_at') }} as published_at
from {{ source('social', 'posts') }}
