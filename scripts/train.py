"""Train as a config file says (big_vision style: the config's docstring gives command, hardware, time, result).

    python -m scripts.train --config papers/qlora/configs/guanaco.py:smoke --workdir /tmp/guanaco-smoke
    python -m scripts.train --config papers/qlora/configs/guanaco.py:65b --workdir DIR \
        --config.model.source=/models/llama-65b --config.train.steps=100

Rerunning the same command on a workdir with a checkpoint resumes exactly where it stopped.
"""

from __future__ import annotations

from absl import app, flags
from ml_collections import config_flags

from scripts import quiet_orbax, use_most_gpu_memory
from shared.train.data import make_data
from shared.train.loop import train
from shared.train.sharding import initialize_distributed

_CONFIG = config_flags.DEFINE_config_file("config", None, "path/to/config.py:VARIANT", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "checkpoints, metrics.jsonl and the W&B run go here", required=True)


def main(argv):
    del argv
    use_most_gpu_memory()  # before anything starts the GPU backend
    quiet_orbax()
    initialize_distributed()  # multi-host (TPU pods, multi-node GPU); a no-op for one process
    last = train(_CONFIG.value, _WORKDIR.value, make_data=make_data)
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in last.items()})


if __name__ == "__main__":
    flags.mark_flag_as_required("config")
    app.run(main)
