"""Shared pytest fixtures. Tests run on CPU; Pallas kernels in interpret mode."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("WANDB_MODE", "offline")

import pathlib

import jax
import pytest

# CPU computations run inline, not asynchronously: the TPU kernel's interpret mode runs JAX ops inside io_callbacks,
# and with async dispatch an op queued meanwhile by the test can deadlock with them (see pallas_tpu.interpret_params).
jax.config.update("jax_cpu_enable_async_dispatch", False)

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA_DIR = pathlib.Path(os.environ.get("REPRO_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir():
    if not DATA_DIR.is_dir():
        pytest.skip(f"real data folder {DATA_DIR} is absent (set REPRO_DATA_DIR to the shared data folder)")
    return DATA_DIR
