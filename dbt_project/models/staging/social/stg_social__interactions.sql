select
    id as interaction_id,
    post_id,
    channel,
    {{ normalize_handle('handle') }} as handle_normalized,
    interaction_type,
    store_id,
    {{ utc('occurred_at') }} as occurred_at
from {{ source('social', 'interactions') }}
