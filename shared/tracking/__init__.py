"""Run tracking: Weights & Biases (offline automatically without a key or network) and metrics.jsonl."""

from shared.tracking.tracker import Tracker, choose_mode, commit_label, git_commit, hardware, read_metrics

__all__ = ["Tracker", "choose_mode", "commit_label", "git_commit", "hardware", "read_metrics"]
