"""JAX's persistent compilation cache for a block of code: compiled programs are kept on disk, keyed by the
compiled computation itself (and the compiler, its flags and the devices), and found there again by a later
process or a later run in this one.

A training run killed and restarted on the same workdir compiles the same step again: minutes on a GPU for a
7B model, tens of minutes at 65B (XLA compiles the step's 80 unrolled layers, and autotunes its fusions; XLA's
own autotuning results are kept in the same folder; `train.scan_layers` compiles one block instead, seconds). With the cache, the restarted run reads the compiled step
back instead. JAX writes an entry in place, and never replaces one that exists: an entry cut short by a kill
would be reported and compiled around on every later run, and never rewritten. Entering the cache checks every
entry (each is one compressed stream) and removes the ones that do not decompress, with a warning naming them.

    with compilation_cache(workdir / "jax_cache"):
        train_step(...)
"""

from __future__ import annotations

import contextlib
import pathlib
import warnings

import jax

_NAMES = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
          "jax_persistent_cache_min_entry_size_bytes")


def remove_broken_entries(directory: pathlib.Path) -> list[pathlib.Path]:
    """Removes the cache entries of `directory` that do not decompress (cut short while written), with a warning;
    returns them. Best effort: without JAX's (private) decompression function, nothing is checked."""
    try:
        from jax._src.compilation_cache import decompress_executable
    except ImportError:
        return []
    broken = []
    for entry in sorted(pathlib.Path(directory).glob("*-cache")):
        try:
            decompress_executable(entry.read_bytes())
        except Exception:  # noqa: BLE001 - any failure: JAX could not read this entry either
            broken.append(entry)
    for entry in broken:
        entry.unlink(missing_ok=True)
        entry.with_name(entry.name.removesuffix("-cache") + "-atime").unlink(missing_ok=True)
    if broken:
        warnings.warn(f"compilation cache {directory}: removed {len(broken)} entries that do not decompress (cut "
                      f"short while written; compiled again when needed): {', '.join(e.name for e in broken)}",
                      RuntimeWarning, stacklevel=3)
    return broken


def _reset() -> None:
    """Forget JAX's cache object and its once-per-process decision whether to use one (private API: best effort),
    so that a cache folder set now takes effect even after earlier compilations, and none stays open after."""
    try:
        from jax._src import compilation_cache as cc

        cc.reset_cache()
    except (ImportError, AttributeError):
        pass


@contextlib.contextmanager
def compilation_cache(directory: str | pathlib.Path | None, min_compile_time_secs: float = 1.0):
    """JAX's persistent compilation cache in `directory` for this block; programs that took under
    `min_compile_time_secs` to compile are not kept. Nothing changes when `directory` is None or a cache folder is
    configured already (`JAX_COMPILATION_CACHE_DIR`, or an enclosing block): that one is used."""
    if directory is None or jax.config.jax_compilation_cache_dir:
        yield
        return
    previous = {n: getattr(jax.config, n) for n in _NAMES}
    pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
    remove_broken_entries(pathlib.Path(directory))
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_time_secs)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _reset()
    try:
        yield
    finally:
        for n, v in previous.items():
            jax.config.update(n, v)
        _reset()


def cache_dir(config, workdir: pathlib.Path) -> pathlib.Path | None:
    """The compilation cache folder of a training run: `train.compilation_cache` "workdir" (the default) is
    WORKDIR/jax_cache, "" turns it off, any other value is a folder (e.g. one shared by the runs of a machine)."""
    where = config.train.get("compilation_cache", "workdir")
    if not where:
        return None
    return workdir / "jax_cache" if where == "workdir" else pathlib.Path(where).expanduser()
