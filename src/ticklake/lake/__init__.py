"""The lake: spool records → Hive-partitioned Parquet tables (Firehose's job), exactly once.

Layout and column types: docs/lake-layout.md.
"""
