"""Guanaco's claims that have a command: id -> what it checks, the function that measures it, and its CPU cost.

    python -m scripts.claim guanaco 1            # measure claim 1, write papers/guanaco/results/claim1.json
Claim ids are the rows of papers/guanaco/README.md and the keys of reported.json. Row 4 (the Guanaco rows of the
Elo and Vicuna-benchmark tables) is measured by ../qlora's claims 4 and 5 and has no command here.
"""

from __future__ import annotations

from papers.guanaco import conversations, recipe
from shared.eval import Claim

CLAIMS: dict[str, Claim] = {
    "1": Claim("training recipe: every flag of finetune_guanaco_{7b,13b,33b,65b}.sh against "
               "papers/qlora/configs/guanaco.py", recipe.training_recipe, cpu_seconds=5),
    "2": Claim("OASST1: the top-ranked reply at each level, loss on the whole conversation (guanaco template)",
               conversations.full_conversations, cpu_seconds=30),
    "3": Claim("Guanaco 65B in 24 h on one GPU, 33B in under 12 h on a 24 GB GPU (bash experiments/guanaco_65b.sh "
               "--model ...)", recipe.training_time, cpu_seconds=None),
}
