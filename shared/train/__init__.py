"""The training engine: optimizers and schedules, the loss and step (the loop, checkpoints and configs follow)."""

from shared.train.optim import SCHEDULES, adamw, schedule, warmup_steps
from shared.train.step import eval_step, loss_fn, masked_cross_entropy, offload_optimizer, train_step

__all__ = ["SCHEDULES", "adamw", "eval_step", "loss_fn", "masked_cross_entropy", "offload_optimizer", "schedule",
           "train_step",
           "warmup_steps"]
