"""Command-line entry points (`python -m scripts.NAME`)."""

from absl import flags, logging


def quiet_orbax() -> None:
    """absl logging at WARNING unless --verbosity was given: Orbax logs every file it touches at INFO."""
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
