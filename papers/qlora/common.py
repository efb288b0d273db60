"""Where QLoRA's reported numbers and results live."""

from __future__ import annotations

import functools
import pathlib
from typing import Any

from shared.eval import paper_values, read_reported

PAPER_DIR = pathlib.Path(__file__).resolve().parent
REPORTED = PAPER_DIR / "reported.json"
RESULTS = PAPER_DIR / "results"


@functools.cache
def reported() -> dict[str, Any]:
    return read_reported(REPORTED)


def reported_values(claim: str) -> dict[str, Any]:
    """{quantity: the paper's value} for one claim, from reported.json."""
    return paper_values(reported(), claim)


def result_path(claim: str) -> pathlib.Path:
    return RESULTS / f"claim{claim}.json"
