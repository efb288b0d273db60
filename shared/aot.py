"""Compile for a GPU this machine does not have: XLA's deviceless ahead-of-time compilation.

JAX's CUDA plugin builds a compile-only GPU topology from a description of the GPU (an XLA GpuTargetConfigProto:
compute capability, SMs, shared memory, memory size), with no GPU, driver or CUDA runtime. A program jitted with
shardings on its devices goes through XLA's real GPU compiler: fusion, scheduling, buffer assignment, the Pallas
Triton kernels through XLA's Triton, the Mosaic GPU kernels through the Mosaic GPU compiler, PTX, ptxas. Nothing
can run. What it gives, before any device time: that a program compiles for that GPU; XLA's memory analysis of it
(device bytes of the arguments, outputs and temporaries, and host-memory arguments apart); and ptxas' report of
each Mosaic GPU kernel (registers, spills).

    from shared import aot
    compiled = aot.compile_for("a6000", f, aot.abstract("a6000", args))
    aot.memory_stats(compiled)     # {"argument_bytes", ..., "peak_bytes", "host_argument_bytes", ...}

The plugin is three pip packages (jax-cuda12-plugin and jax-cuda12-pjrt of the installed jaxlib's version, and
nvidia-cuda-nvcc-cu12 for ptxas and libdevice), which scripts/setup.sh installs with `pip --target` into
.venv/gpu-aot, off the import path: on a machine without a GPU a CUDA plugin on the path makes every `import jax`
print its failed CUDA checks. `plugin()` puts that folder (or $REPRO_GPU_AOT_PATH) on the path when first asked
and registers the plugin with JAX; a JAX that already has its CUDA plugin (a GPU machine) uses that one.

A target "8xh100" is eight of them in one host (one process, as on an 8-GPU machine): `devices("8xh100")`,
for a mesh of them, over which XLA:GPU compiles one SPMD program. Compile-only GPUs have no memory spaces in
this JAX: a sharding's memory kind ("pinned_host") is dropped on them, so host-memory arguments cannot be
described across several (one GPU infers them from the program's own transfers).

The GPU descriptions (`GPUS`) are the vendors' published figures. XLA's memory analysis depends on the compute
capability (which kernels and fusions exist) and not on the memory size, which XLA uses only to schedule.

TPUs likewise: libtpu (the TPU compiler and runtime, installed by scripts/setup.sh into .venv/tpu-aot, or
$REPRO_TPU_AOT_PATH) builds compile-only devices for a TPU slice named as libtpu names topologies, e.g. "v5e:2x2"
(four v5e chips), "v5p:2x2x2", "v6e:4x4"; XLA:TPU then compiles for them here, with the Pallas TPU kernels through
the Mosaic compiler, and reports memory per chip. A target with a ":" is a TPU slice; `devices(target)` gives all
of its chips, for a mesh of them (`shared.train.sharding.make_mesh(..., devices=aot.devices("v5e:4x4"))`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import math
import os
import pathlib
import re
import sys
from typing import Any, Callable

import jax
import numpy as np

_DEFAULT_PATH = pathlib.Path(__file__).resolve().parents[1] / ".venv" / "gpu-aot"
_DEFAULT_TPU_PATH = pathlib.Path(__file__).resolve().parents[1] / ".venv" / "tpu-aot"


@dataclasses.dataclass(frozen=True)
class GpuSpec:
    description: str  # the device kind the driver reports
    compute_capability: tuple[int, int]
    sms: int
    smem_per_sm: int  # bytes
    smem_per_block_optin: int
    l2_bytes: int
    memory_bytes: int
    bandwidth: float  # bytes/s
    clock_ghz: float
    threads_per_sm: int
    fp32_per_sm: int

    def target_config(self) -> str:
        """The GpuTargetConfigProto in text format, as the CUDA plugin's topology takes it."""
        major, minor = self.compute_capability
        return (
            "gpu_device_info {\n"
            "  threads_per_block_limit: 1024\n  threads_per_warp: 32\n  shared_memory_per_block: 49152\n"
            f"  shared_memory_per_core: {self.smem_per_sm}\n  threads_per_core_limit: {self.threads_per_sm}\n"
            f"  core_count: {self.sms}\n  fpus_per_core: {self.fp32_per_sm}\n"
            "  block_dim_limit_x: 2147483647\n  block_dim_limit_y: 65535\n  block_dim_limit_z: 65535\n"
            f"  memory_bandwidth: {int(self.bandwidth)}\n  l2_cache_size: {self.l2_bytes}\n"
            f"  clock_rate_ghz: {self.clock_ghz}\n  device_memory_size: {self.memory_bytes}\n"
            f"  shared_memory_per_block_optin: {self.smem_per_block_optin}\n"
            f"  cuda_compute_capability {{ major: {major} minor: {minor} }}\n"
            "  registers_per_core_limit: 65536\n  registers_per_block_limit: 65536\n"
            "}\n"
            f'platform_name: "CUDA"\ndevice_description_str: "{self.description}"\n')


GiB = 1 << 30
GPUS = {
    # the GPU of issue 3's kernel targets and of the Mosaic GPU kernels (wgmma)
    "h100": GpuSpec("NVIDIA H100 80GB HBM3", (9, 0), 132, 228 << 10, 227 << 10, 50 << 20, 80 * GiB, 3.35e12, 1.98,
                    2048, 128),
    "a100-80gb": GpuSpec("NVIDIA A100-SXM4-80GB", (8, 0), 108, 164 << 10, 163 << 10, 40 << 20, 80 * GiB, 2.039e12,
                         1.41, 2048, 64),
    # a 48 GB GPU, as in QLoRA's "65B on a single 48GB GPU"
    "a6000": GpuSpec("NVIDIA RTX A6000", (8, 6), 84, 100 << 10, 99 << 10, 6 << 20, 48 * GiB, 768e9, 1.80, 1536, 128),
    # 24 GB consumer GPUs, as in QLoRA's "Guanaco 33B ... on a single consumer GPU" (24 GB) and alpaca-lora's RTX 4090
    "rtx4090": GpuSpec("NVIDIA GeForce RTX 4090", (8, 9), 128, 100 << 10, 99 << 10, 72 << 20, 24 * GiB, 1008e9, 2.52,
                       1536, 128),
    "rtx3090": GpuSpec("NVIDIA GeForce RTX 3090", (8, 6), 82, 100 << 10, 99 << 10, 6 << 20, 24 * GiB, 936e9, 1.70,
                       1536, 128),
}


@dataclasses.dataclass(frozen=True)
class TpuSpec:
    device_kind: str  # what JAX reports for a chip
    hbm_bytes: int  # per chip
    host_bounds: tuple[int, int, int]  # chips per host (VM) in libtpu's default layout


TPUS = {  # Google Cloud's published per-chip HBM
    "v4": TpuSpec("TPU v4", 32 * GiB, (2, 2, 1)),
    "v5e": TpuSpec("TPU v5 lite", 16 * GiB, (2, 2, 1)),
    "v5p": TpuSpec("TPU v5", 95 * GiB, (2, 2, 1)),
    "v6e": TpuSpec("TPU v6 lite", 32 * GiB, (2, 2, 1)),
}


def is_tpu(target: str) -> bool:
    """A TPU slice ("v5e:2x2") rather than a GPU ("h100")."""
    return ":" in target


def tpu_spec(target: str) -> TpuSpec:
    """The chip of a TPU slice target "GENERATION:AxB[xC]"."""
    generation, _, shape = target.partition(":")
    if generation not in TPUS or not re.fullmatch(r"\d+(x\d+){1,2}", shape):
        raise ValueError(f"unknown TPU target {target!r}: GENERATION:AxB[xC] with GENERATION one of "
                         f"{', '.join(TPUS)}, e.g. 'v5e:2x2'")
    return TPUS[generation]


def _gpu_target(target: str) -> tuple[int, str]:
    """(GPU count, GPU name) of a GPU target: "h100" is one H100, "8xh100" eight of them in one host."""
    count, x, name = target.partition("x") if re.match(r"\d+x", target) else ("1", "", target)
    if name not in GPUS or int(count) < 1:
        raise ValueError(f"unknown GPU target {target!r}; known: {', '.join(GPUS)}, or N of one in a host as "
                         f"'8xh100'" + ("" if is_tpu(target) else "; or a TPU slice such as 'v5e:2x2'"))
    return int(count), name


def spec(target: str) -> GpuSpec:
    """The GPU of a GPU target ("h100", or "8xh100": eight H100s)."""
    return GPUS[_gpu_target(target)[1]]


def gpu_count(target: str) -> int:
    """How many GPUs a GPU target has: 1 for "h100", 8 for "8xh100" (one host, NVLink as XLA assumes)."""
    return _gpu_target(target)[0]


def _tpu_dims(target: str) -> list[int]:
    """The chip grid of a TPU slice target, three dimensions: "v5e:4x4" -> [4, 4, 1]."""
    tpu_spec(target)
    dims = [int(d) for d in target.partition(":")[2].split("x")]
    return dims + [1] * (3 - len(dims))


def chips(target: str) -> int:
    """The devices of a target (GPUs, or a TPU slice's chips), without building them."""
    return math.prod(_tpu_dims(target)) if is_tpu(target) else gpu_count(target)


def _has_cuda_plugin() -> bool:
    try:
        return importlib.util.find_spec("jax_plugins.xla_cuda12") is not None
    except ModuleNotFoundError:  # no jax_plugins namespace package at all
        return False


@functools.cache
def plugin() -> str | None:
    """Makes JAX's CUDA plugin available for compile-only topologies; returns why it cannot be, or None."""
    from jax._src import xla_bridge as xb

    if not _has_cuda_plugin():
        path = pathlib.Path(os.environ.get("REPRO_GPU_AOT_PATH", _DEFAULT_PATH))
        if not (path / "jax_plugins" / "xla_cuda12").is_dir():
            return (f"JAX's CUDA plugin is not installed in {path} (scripts/setup.sh puts it there; or pip install "
                    f"--target {path} --no-deps jax-cuda12-plugin=={jax.__version__} "
                    f"jax-cuda12-pjrt=={jax.__version__} nvidia-cuda-nvcc-cu12)")
        import jaxlib

        versions = sorted(d.name.removeprefix("jax_cuda12_plugin-").removesuffix(".dist-info")
                          for d in path.glob("jax_cuda12_plugin-*.dist-info"))
        if versions != [jaxlib.__version__]:
            return (f"JAX's CUDA plugin in {path} is version {', '.join(versions) or '?'}, jaxlib is "
                    f"{jaxlib.__version__}: rerun scripts/setup.sh (requirements-gpu-aot.txt pins it)")
        jax.devices()  # this machine's backends first, without the plugin: it only compiles, it never runs here
        sys.path.insert(0, str(path))
        importlib.invalidate_caches()
        # registered late, for compile-only topologies: skip the CUDA runtime version checks, which need a GPU
        os.environ.setdefault("JAX_SKIP_CUDA_CONSTRAINTS_CHECK", "1")
        try:
            importlib.import_module("jax_plugins.xla_cuda12").initialize()
        except Exception as e:  # noqa: BLE001 - reported to the caller with the cause
            return f"JAX's CUDA plugin in {path} failed to register: {type(e).__name__}: {e}"
        # the host side of a Mosaic GPU kernel links against this runtime; jax.experimental.mosaic.gpu points
        # the compiler at it only when the plugin was on the path at its import
        runtime = path / "jax_cuda12_plugin" / "libmosaic_gpu_runtime.so"
        if runtime.exists():
            os.environ.setdefault("MOSAIC_GPU_RUNTIME_LIB_PATH", str(runtime))
    else:
        xb._discover_and_register_pjrt_plugins()  # a GPU machine's plugin registers itself here
    if "cuda" not in xb._topology_factories:
        return "JAX's CUDA plugin registered no topology factory (a jaxlib / plugin version mismatch?)"
    return None


@functools.cache
def tpu_plugin() -> str | None:
    """Makes libtpu available for compile-only TPU topologies; returns why it cannot be, or None."""
    import importlib.metadata

    from jax._src import xla_bridge as xb
    from jaxlib import xla_client

    if xla_client.pjrt_plugin_loaded("tpu"):  # a TPU VM: JAX loaded its libtpu at start-up
        return None
    path = pathlib.Path(os.environ.get("REPRO_TPU_AOT_PATH", _DEFAULT_TPU_PATH))
    library = path / "libtpu" / "libtpu.so"
    wanted = next((r.split(";")[0].strip() for r in importlib.metadata.requires("jax") or []
                   if r.startswith("libtpu") and "tpu" in r), "libtpu")
    if not library.is_file():
        return (f"libtpu is not installed in {path} (scripts/setup.sh puts it there; or pip install --target "
                f"{path} --no-deps '{wanted}')")
    versions = sorted(d.name.removeprefix("libtpu-").removesuffix(".dist-info") for d in path.glob("libtpu-*.dist-info"))
    pin = wanted.partition("==")[2].rstrip(".*")
    if pin and not (len(versions) == 1 and versions[0].startswith(pin)):
        return (f"libtpu in {path} is version {', '.join(versions) or '?'}, jax {jax.__version__} asks for {wanted}: "
                "rerun scripts/setup.sh (requirements-tpu-aot.txt pins it)")
    jax.devices()  # this machine's backends first, without libtpu: it only compiles, it never runs here
    os.environ["TPU_LIBRARY_PATH"] = str(library)
    # no TPU VM around it: skip libtpu's queries of the GCE metadata server (30 tries per key, minutes); libtpu
    # takes /tmp/libtpu_lockfile so that one process owns a VM's chips, but compiling owns none and parallel test
    # workers each compile
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
    # while libtpu starts, name the (absent) host's workers and slice so that it does not print failed guesses;
    # removed again after: a TPU worker list in the environment means a pod to the processes this one starts
    # (shared.train.sharding.initialize_distributed)
    start_only = {k: v for k, v in (("TPU_WORKER_HOSTNAMES", "localhost"), ("TPU_ACCELERATOR_TYPE", "v5litepod-1"))
                  if k not in os.environ}
    os.environ.update(start_only)
    try:
        xb.make_pjrt_tpu_topology("v5e:1x1", chips_per_host_bounds=[1, 1, 1])
    except Exception as e:  # noqa: BLE001 - reported to the caller with the cause
        return f"libtpu in {path} failed to build a compile-only TPU topology: {type(e).__name__}: {e}"
    finally:
        for k in start_only:
            os.environ.pop(k, None)
    return None


def unavailable(target: str = "h100") -> str | None:
    """Why deviceless compilation for `target` (a GPU, or a TPU slice) is not possible here, or None."""
    return tpu_plugin() if is_tpu(target) else plugin()


@functools.cache
def devices(target: str) -> tuple:
    """The compile-only devices of `target`: its GPUs ("h100": one; "8xh100": eight), or every chip of a TPU
    slice."""
    from jax.experimental import topologies

    if is_tpu(target):
        chip = tpu_spec(target)
        why = tpu_plugin()
        if why:
            raise RuntimeError(why)
        dims = _tpu_dims(target)
        kwargs = {}
        if any(d < h for d, h in zip(dims, chip.host_bounds)):  # a slice smaller than one default host
            kwargs["chips_per_host_bounds"] = [min(d, h) for d, h in zip(dims, chip.host_bounds)]
        return tuple(topologies.get_topology_desc(target, "tpu", **kwargs).devices)
    why = plugin()
    if why:
        raise RuntimeError(why)
    # "SLICESxHOSTSxDEVICES": all of a target's GPUs in one host and one process, as on an 8-GPU machine
    topology = topologies.get_topology_desc(platform="cuda", topology=f"1x1x{gpu_count(target)}",
                                            target_config=spec(target).target_config())
    return tuple(topology.devices)


@functools.cache
def mesh(target: str) -> jax.sharding.Mesh:
    """A one-axis ("x") mesh over the compile-only devices of `target`."""
    found = devices(target)
    return jax.sharding.Mesh(np.array(found, dtype=object).reshape(len(found)), ("x",))


def sharding(target: str, memory_kind: str | None = None) -> jax.sharding.NamedSharding:
    """Replicated on the target's devices; memory_kind "pinned_host" for arrays kept in host memory."""
    return jax.sharding.NamedSharding(mesh(target), jax.sharding.PartitionSpec(), memory_kind=memory_kind)


def abstract(target: str, tree: Any, host: Callable[[tuple], bool] = lambda path: False) -> Any:
    """`tree`'s arrays (or shape/dtype structs) as abstract arguments replicated on the target's devices: in device
    memory, or in pinned host memory where `host(key_path)` is true."""
    device, pinned = sharding(target), sharding(target, "pinned_host")
    return jax.tree_util.tree_map_with_path(
        lambda path, a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=pinned if host(path) else device), tree)


def compile_for(target: str, fn: Callable, args: tuple, *, donate_argnums=(), **jit_kwargs) -> Any:
    """`jax.jit(fn).lower(*args).compile()` for `target`, whose arguments are placed on its devices
    (`abstract(target, ...)`, or shardings over a mesh of `devices(target)`)."""
    tpu_spec(target) if is_tpu(target) else spec(target)
    return jax.jit(fn, donate_argnums=donate_argnums, **jit_kwargs).lower(*args).compile()


def memory_stats(compiled) -> dict:
    """XLA's memory analysis of a compiled program: device bytes of arguments, outputs, outputs that reuse donated
    argument buffers (alias), temporaries, and the peak they add up to (argument + output - alias + temp); the
    host-memory arguments and outputs apart (nonzero only where a program keeps arrays in host memory)."""
    m = compiled.memory_analysis()
    if m is None:
        raise RuntimeError("XLA gives no memory analysis for this compiled program")
    out = {"argument_bytes": int(m.argument_size_in_bytes), "output_bytes": int(m.output_size_in_bytes),
           "alias_bytes": int(m.alias_size_in_bytes), "temp_bytes": int(m.temp_size_in_bytes)}
    out["peak_bytes"] = out["argument_bytes"] + out["output_bytes"] - out["alias_bytes"] + out["temp_bytes"]
    out["host_argument_bytes"] = int(getattr(m, "host_argument_size_in_bytes", 0))
    out["host_output_bytes"] = int(getattr(m, "host_output_size_in_bytes", 0))
    out["host_temp_bytes"] = int(getattr(m, "host_temp_size_in_bytes", 0))
    return out


def ptxas() -> str:
    """The ptxas that compiles for the target (nvidia-cuda-nvcc-cu12's, beside the plugin), to rerun with -v."""
    import shutil

    plugin()
    for root in [pathlib.Path(os.environ.get("REPRO_GPU_AOT_PATH", _DEFAULT_PATH))] + [pathlib.Path(p)
                                                                                    for p in sys.path if p]:
        candidate = root / "nvidia" / "cuda_nvcc" / "bin" / "ptxas"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("ptxas")
    if found is None:
        raise RuntimeError("no ptxas: install nvidia-cuda-nvcc-cu12 (scripts/setup.sh puts it in .venv/gpu-aot)")
    return found


_PTXAS_ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(\w+)'")
_PTXAS_SPILL = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_PTXAS_REGS = re.compile(r"Used (\d+) registers")


def ptxas_report(text: str) -> list[dict]:
    """The kernels in a ptxas -v log: [{"kernel", "arch", "registers", "stack_bytes", "spill_stores",
    "spill_loads"}]."""
    kernels: list[dict] = []
    for line in text.splitlines():
        if m := _PTXAS_ENTRY.search(line):
            kernels.append({"kernel": m.group(1), "arch": m.group(2)})
        elif kernels and (m := _PTXAS_SPILL.search(line)):
            kernels[-1].update(stack_bytes=int(m.group(1)), spill_stores=int(m.group(2)),
                               spill_loads=int(m.group(3)))
        elif kernels and (m := _PTXAS_REGS.search(line)):
            kernels[-1]["registers"] = int(m.group(1))
    return kernels
