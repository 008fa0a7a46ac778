"""Persistence: the durable SQLite store of finished calls (numbered migrations, WAL).

A call is stored before anything uses its answer, so a crash or a rerun never pays twice.
May import: llm (types), config, domain, errors.
"""
