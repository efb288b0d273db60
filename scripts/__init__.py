"""Command-line entry points (`python -m scripts.NAME`)."""

import json
import os
import pathlib
import shlex

from absl import flags, logging


def quiet_orbax() -> None:
    """absl logging at WARNING unless --verbosity was given: Orbax logs every file it touches at INFO."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


GPU_MEMORY_FRACTION = "0.95"
_FRACTION_VARIABLES = ("XLA_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_MEM_FRACTION")


def use_most_gpu_memory() -> None:
    """Lets JAX's GPU allocator use 95% of each GPU's memory, where jax 0.10 stops at 75% by default (newer JAX may
    grow its pool past that; this plugin's 0.10.2 build has no such policy): the QLoRA
    steps that fit their GPUs in XLA's own accounting need more than 75% (the 65B step peaks at 42.2 GB of a 48 GB
    RTX A6000, 88%; the 33B one at 22.2 GB of a 24 GB RTX 4090, 86%: benchmarks/aot/README.md), so under the default
    they would run out of memory. A fraction the environment sets (XLA_CLIENT_MEM_FRACTION, or the older
    XLA_PYTHON_CLIENT_MEM_FRACTION; jax refuses both at once) is kept. Call before JAX starts its GPU backend."""
    if not any(os.environ.get(name) for name in _FRACTION_VARIABLES):
        os.environ["XLA_CLIENT_MEM_FRACTION"] = GPU_MEMORY_FRACTION


def finish_record(record: dict, metadata: dict, *, module: str, argv, json_path, render) -> int:
    """The end of a command that computes a record: its provenance (command line, commit, hardware, date) into
    `metadata`, the rendered table printed, the record written as JSON to `json_path` (when given). Returns 0."""
    from shared.eval import provenance, to_json

    command = None if argv is None else shlex.join(["python", "-m", module, *argv])
    metadata.update(provenance(command))
    print(render(record))
    if json_path:
        out = pathlib.Path(json_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(to_json(record), indent=2, ensure_ascii=False) + "\n")
        print(f"-> {out}")
    return 0
