"""LoRA adapters over a frozen (float or 4-bit) base, merging, and PEFT interchange."""

from shared.lora.lora import (LoRA, LoRAParam, apply_lora, count_trainable, describe_trainable, lora_state,
                              merge_lora, projections, resolve_targets)
from shared.lora.peft import export_peft, import_peft

__all__ = ["LoRA", "LoRAParam", "apply_lora", "count_trainable", "describe_trainable", "export_peft", "import_peft",
           "lora_state", "merge_lora", "projections", "resolve_targets"]
