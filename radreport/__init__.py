"""radreport core: schema, ingest, structuring, formatting, training, metrics, promotion policy.

Framework-free: nothing in this package imports ZenML.
"""
