-- What the ESP source refused to load, with the reason (column names and expected types, never values).
{% for table in ['campaigns', 'profiles', 'events'] %}
select quarantine_id, table_name, record_key, source_position, reason, {{ utc('quarantined_at') }} as quarantined_at
from {{ source('esp', table ~ '__quarantine') }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
