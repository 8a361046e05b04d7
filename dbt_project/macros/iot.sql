{#- The spans a device's consent held, from its consent statements (`relation`: device_id, opted_in, changed_at):
    one row per opt-in period, [valid_from, valid_to), valid_to null = the consent holds now. A statement that repeats
    the consent in force changes nothing (two opt-ins in a row are one period). Used by int_iot__device_consent_periods
    and by stg_iot__readings (which keeps only readings inside a period). -#}
{% macro iot_consent_periods(relation) %}
    with statements as (
        select
            device_id,
            opted_in,
            changed_at,
            lag(opted_in) over (partition by device_id order by changed_at) as before
        from {{ relation }}
    ),

    changes as (  -- the statements that change the consent in force
        select
            device_id,
            opted_in,
            changed_at,
            lead(changed_at) over (partition by device_id order by changed_at) as next_change_at
        from statements
        where before is null or before <> opted_in
    )

    select
        device_id,
        changed_at as valid_from,
        next_change_at as valid_to
    from changes
    where opted_in
{% endmacro %}
