"""Command-line entry points (`python -m scripts.NAME`)."""

import json
import pathlib
import shlex

from absl import flags, logging


def quiet_orbax() -> None:
    """absl logging at WARNING unless --verbosity was given: Orbax logs every file it touches at INFO."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


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
