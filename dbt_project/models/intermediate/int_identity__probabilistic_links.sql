-- Placeholder until the probabilistic matcher lands (identity-match replaces this model): no pairs yet.
select
    cast(null as varchar) as node_a,
    cast(null as varchar) as node_b,
    cast(null as double) as match_probability,
    cast(null as double) as match_weight
where false
