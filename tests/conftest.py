"""Shared pytest fixtures. Tests run on CPU; Pallas kernels in interpret mode."""
import atexit
import os
import pathlib
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("WANDB_MODE", "offline")
# One JAX persistent compilation cache for the whole run, inherited by the subprocesses the tests start (the kill
# and resume runs, the launchers, the 8-device sharding check): many tests compile the same tiny programs in new
# processes or through new closures, which the in-memory jit cache cannot share. A fresh directory per run (removed
# at exit), so nothing carries over between runs; JAX_COMPILATION_CACHE_DIR set outside takes precedence. (JAX reads
# these variables when it is imported, below.)
if not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    _cache_dir = tempfile.mkdtemp(prefix="llm-repro-jax-cache-")
    atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

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
