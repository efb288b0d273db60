"""Where the real data lives.

The data folder is never part of the repository (several sources are non-commercial or have no clear
license); a user chooses it. Resolution order: an explicit override, then the ``REPRO_DATA_DIR``
environment variable, then ``<repo>/../shared/data`` (the layout on the project machines).
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "REPRO_DATA_DIR"
FETCH_COMMAND = "python -m scripts.fetch_data --dest <folder>"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Return the data folder: ``override``, else ``$REPRO_DATA_DIR``, else ``<repo>/../shared/data``.

    Raises FileNotFoundError, naming the fetch command, when the chosen folder does not exist.
    """
    if override is not None:
        path, origin = Path(override), "the override argument"
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        path, origin = DEFAULT_DATA_DIR, "the default location"
    if not path.is_dir():
        raise FileNotFoundError(
            f"data folder {path} (from {origin}) does not exist; fetch the data with "
            f"`{FETCH_COMMAND}` and point {ENV_VAR} at it"
        )
    return path
