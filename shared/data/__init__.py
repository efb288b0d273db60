"""Dataset readers, the conversation record type and prompt templates.

    from shared.data import data_dir, read_dataset, render
    reader = read_dataset("alpaca", data_dir() / "stanford_alpaca/alpaca_5000_subset.json", on_error="skip")
    for conversation in reader:
        segments = render("alpaca", conversation)
    print(reader.report.summary())

Formats: see ``FORMATS`` and the module docstrings (alpaca, sharegpt, oasst, e2e); templates: see
``TEMPLATE_NAMES`` and ``templates``.
"""
from .e2e import MRGroup, group_by_mr
from .paths import data_dir
from .readers import FORMATS, DatasetReader, read_dataset
from .records import Conversation, DataError, ReadReport, Turn
from .sharegpt import split_long_conversation
from .templates import TEMPLATE_NAMES, TEMPLATES, Segment, TemplateError, get_template, render, render_prompt

__all__ = [
    "FORMATS", "TEMPLATES", "TEMPLATE_NAMES", "Conversation", "DataError", "DatasetReader", "MRGroup", "ReadReport",
    "Segment", "TemplateError", "Turn", "data_dir", "get_template", "group_by_mr", "read_dataset", "render",
    "render_prompt", "split_long_conversation",
]
