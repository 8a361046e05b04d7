-- One row per span a device's consent held: [valid_from, valid_to), valid_to null = it holds now.
{{ iot_consent_periods(ref('stg_iot__device_consents')) }}
