-- Every source identifier with its person: the person_id the registry holds for its record.
select
    records.identifier_type,
    records.identifier_value,
    registry.person_id
from {{ ref('int_identity__records') }} as records
left join {{ ref('int_identity__person_registry') }} as registry on registry.node = records.node
