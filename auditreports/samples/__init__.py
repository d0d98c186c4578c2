"""The deterministic sample quarter: a support workspace's 2026-Q3 in both audit-log formats.

``generate_samples(dir)`` writes the committed ``data_samples/``: the hash-chained
workspace audit log, the conversation audit log, plain JSON/CSV export examples, the
customer directory, the GDPR processing record, tampered copies and
``ground_truth.json`` naming every planted incident by event id. The benchmark
helpers write N events of either log quickly. See docs/samples.md.
"""

from __future__ import annotations

from .quarter import DEFAULT_SEED, Quarter, simulate_quarter
from .write import generate_conversation_ndjson, generate_samples, generate_workspace_ndjson

__all__ = [
    "DEFAULT_SEED",
    "Quarter",
    "generate_conversation_ndjson",
    "generate_samples",
    "generate_workspace_ndjson",
    "simulate_quarter",
]
