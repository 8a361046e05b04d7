select
    id as post_id,
    channel,
    post_type,
    {{ utc('created_time') }} as published_at,
    message as text,
    cast(reach as bigint) as reach,
    {{ utc('updated_time') }} as updated_at
from {{ source('social', 'posts') }}
