"""Activation: the webhook inbox, the outbox of messages and audience rows, and their delivery.

Nothing here imports Dagster (the sensor and assets live in ``orchestration/defs/activation*.py``), and nothing
here opens the warehouse for writing: the real-time path reads the serving copy and writes only this store.
"""
