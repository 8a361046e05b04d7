-- Comments, mentions, likes, shares and check-ins of the Graph API edges (one raw table, typed by dlt).
-- The handle arrives NFKC-normalised without any whitespace or zero-width character; here it loses its "@"
-- and its case. `text` is what the person wrote (comments, mentions, some shares), for sentiment later.
select
    id as interaction_id,
    post_id,
    channel,
    {{ normalize_handle('handle') }} as handle_normalized,
    {{ keyed_hash(normalize_handle('handle')) }} as handle_hash,
    cast(display_name as varchar) as display_name,
    interaction_type,
    store_id,
    {{ utc('created_time') }} as occurred_at,
    message as text,
    reaction_type,
    {{ utc('updated_time') }} as updated_at
from {{ source('social', 'interactions') }}
