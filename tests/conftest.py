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


@pytest.fixture
def small_disk(tmp_path):
    """A function mounting a tmpfs of the given size (e.g. "4m") at tmp_path/disk and returning its path: a real
    filesystem that fills up (ENOSPC), for the full-disk tests. Needs root (CI runs as root); skips otherwise.
    Unmounted afterwards."""
    import subprocess

    mounted = []

    def mount(size: str):
        path = tmp_path / "disk"
        path.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                           text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a small tmpfs to fill up ({(r.stderr or r.stdout).strip()}): needs root")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk) -> "pathlib.Path":
    """Fills the filesystem at `disk` with one file, written until the disk says it is full; returns the file."""
    import os

    filler = disk / "filler"
    chunk = os.urandom(1 << 16)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
    return filler
