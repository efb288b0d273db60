"""Where the real data lives.

The data folder is never part of the repository (several sources are non-commercial or have no clear
license); a user chooses it. Resolution order: an explicit override (``--data_dir``), then the
``REPRO_DATA_DIR`` environment variable, then ``<repo>/../shared/data`` (the layout on the project
machines). ``python -m scripts.fetch_data NAME...`` fills a data folder (``shared.data.registry`` lists
the names).
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "REPRO_DATA_DIR"
FETCH_COMMAND = "python -m scripts.fetch_data"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def resolve_data_dir(override: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Return ``(folder, origin)`` by the resolution order above, whether or not the folder exists;
    ``origin`` says which rule chose it (for error messages)."""
    if override is not None:
        return Path(override), "the override argument"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    return DEFAULT_DATA_DIR, "the default location"


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Return the data folder: ``override``, else ``$REPRO_DATA_DIR``, else ``<repo>/../shared/data``.

    Raises FileNotFoundError, naming the fetch command, when the chosen folder does not exist.
    """
    path, origin = resolve_data_dir(override)
    if not path.is_dir():
        raise FileNotFoundError(
            f"data folder {path} (from {origin}) does not exist; fetch datasets into it with "
            f"`{FETCH_COMMAND} NAME... --data_dir {path}` (`{FETCH_COMMAND} --list` names them), "
            f"or point {ENV_VAR} at an existing data folder"
        )
    return path
