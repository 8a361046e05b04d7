"""Probabilistic links between identity records: Splink scores the pairs of int_identity__match_records that its
blocking rules generate, with the parameters trained by `journey identity train` (dbt_project/identity/
splink_model.json; never trained here), and keeps those at or above the review threshold."""


def model(dbt, session):
    dbt.config(materialized="table")
    from ingestion import linkage

    threshold = float(dbt.config.get("review_threshold"))
    records = dbt.ref("int_identity__match_records").df()
    return linkage.predict(records, linkage.MODEL_PATH, threshold=threshold)
