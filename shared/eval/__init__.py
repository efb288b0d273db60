"""Evaluation and reproduction results: `results` (one JSON per claim, written by the command that measured it,
and its W&B run)."""

from shared.eval.results import (SCALES, STATUSES, Claim, ClaimResult, Comparison, paper_values, provenance,
                                 read_reported, read_result, to_json, write_result)

__all__ = ["SCALES", "STATUSES", "Claim", "ClaimResult", "Comparison", "paper_values", "provenance", "read_reported",
           "read_result", "to_json", "write_result"]
