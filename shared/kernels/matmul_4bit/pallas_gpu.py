"""Fused 4-bit matmuls for NVIDIA GPUs: Pallas lowered through Triton (`compiler_params=plgpu.CompilerParams`).

Notation: x [M, K], weight W [N, K] stored as `packed` uint8 [N, K/2] (column 2j in the HIGH nibble of byte j,
2j+1 in the LOW one), absmax [N, K/bs]; cb = the 16-entry codebook.

Dequantizing a tile in registers (`_dequant`): the uint8 tile [r, c] is widened to int32 codes hi = b >> 4 and
lo = b & 15, both are looked up in the codebook, and the two value tiles are joined along a new minor axis and
reshaped to [r, 2c], which puts column 2j (hi) next to 2j+1 (lo): natural K order, so x and dX need no reordering
(`tt.join` + `tt.reshape`, the usual Triton int4 idiom). Lookup (`GpuConfig.lookup`):
  "select" (default): a 15-select tree on the code bits with the values as constants: no memory traffic, ~10
           FSEL per element after ptxas.
  "gather": cb as a 16-entry float32 array in global memory indexed by the codes (64 bytes: all lanes of a warp
           hit one L1 line); ~5 SASS instructions per weight element on sm_90 (2 for the 64-bit address).
  Measured side by side on an H100 (`scripts.bench_4bit --variants`, benchmarks/gpu/README.md): select was 1.8-3.3x
  faster than gather in every configuration timed (M = 1, 16, 4096), hence the default; the SASS count misled
  (pip Triton 3.6 turns the gather into one 4-byte async copy per element through shared memory).
  "prmt":  byte permutes on bfloat16 table bytes in inline PTX (`prmt.py`), ~6 SASS instructions per element
           instead of ~11; bfloat16 forward with "dot" scaling only. A tuning candidate, not yet timed.
Statistics: float32 absmax is read as is; double-quantized statistics (uint8 codes, nested absmax, offset) are
decoded in the kernel, per (row, block), from the 256-entry dynamic map: no float32 absmax array either.

Forward, y = x @ W.T:

    grid = (cdiv(M, bm), N / bn, S)   program (i, j, s) owns output tile [bm, bn] of K-split s
    for t in range(K / (S * bk)):     fori_loop (scf.for, software-pipelined by Triton over num_stages)
        bytes = packed[j*bn:(j+1)*bn, K-step t]          [bn, bk/2] uint8: the only weight bytes read
        scale = "tile": w = (cb[codes] * absmax[n, group]).astype(x.dtype) [bn, bk];   acc += x_t @ w.T
                "dot":  per absmax group G (bs columns): w_G = cb[codes].astype(x.dtype) [bn, bs];
                        acc += (x_G @ w_G.T) * absmax[:, G]          (scales bm*bn partials instead of bn*bs
                                                                     weights: cheaper when bm is small)
    swap_ab: the product is formed as acc.T = w @ x.T ([bn, bm]), so the dequantized weight is the MMA's A
             operand (M side), transposed on store: a decode-sized bm = 16 becomes the narrow N side of wgmma,
             and on Hopper an A operand is read from registers, so the dequantized tile skips the shared-memory
             staging a B operand needs. Default for bfloat16 at every M.
    out[s, i, j] = acc (float32 partials summed by XLA when S > 1; x.dtype directly when S == 1)

Backward, dX = dY @ W:

    grid = (cdiv(M, bm), K / bk, S)   program (i, kb, s) owns dX tile [bm, bk] of N-split s
    for t in range(N / (S * bn)):     reduction over the rows of W
        w = dequantized, "tile"-scaled [bn, bk] tile of rows t*bn..;   acc += dY[:, rows] @ w
    swap_ab: acc.T += w.T @ dY[:, rows].T ([bk, bm]): w is wgmma's register-sourced A operand, as above
    out[s, i, kb] = acc (float32 partials summed by XLA when S > 1)

The dequantized tile exists only in registers (and in the shared-memory staging Triton uses to feed the tensor
cores): no 16-bit weight is ever written to global memory. Split-K (forward) and split-N (dX), S > 1, keep all
SMs busy for decode-sized M.

Tiles are powers of two (Triton's requirement), bm, bn >= 16 (tensor-core minimum). float32 inputs use IEEE float32
dots (Triton `input_precision=ieee`, not TF32); bfloat16 inputs use bfloat16 dots with float32 accumulation. A row
block that runs past M is handled with masked loads (zeros) and masked stores, so x is never padded; N and K must
be multiples of the tiles, else `plan_*` raises UnsupportedShape and the API falls back to the reference. The
planned tiles were chosen from the sm_90 SASS of the candidates (registers, spills, issue slots per wgmma; see
README.md and `triton_check.py`), not from timings: no GPU was available when they were written.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl

try:  # the Pallas Triton backend: deprecated in JAX 0.11.0, to be removed in a later version
    from jax.experimental.pallas import triton as plgpu

    IMPORT_ERROR = None
except ImportError as e:  # pragma: no cover - depends on the jax version
    plgpu = None
    IMPORT_ERROR = f"jax {jax.__version__} has no Pallas Triton backend ({e}); use backend='pallas_mosaic_gpu'"

from shared.kernels.matmul_4bit import common, prmt
from shared.quant import codebooks

LOOKUPS = ("gather", "select", "prmt")
SCALES = ("tile", "dot")


@dataclasses.dataclass(frozen=True)
class GpuConfig:
    """Tiles and options of one GPU kernel launch. bk counts unpacked K columns; all tiles are powers of two.

    split_k and scale apply to the forward kernel, split_n to the backward (dX, which always scales the tile),
    swap_ab to both. Each splits the pass's reduction axis (K for the forward, N for dX) over that many
    programs whose float32 partials XLA sums: it fills the GPU when the output has few tiles (small M).
    """

    bm: int
    bn: int
    bk: int
    split_k: int = 1
    split_n: int = 1
    scale: str = "tile"
    lookup: str = "select"
    swap_ab: bool = False
    num_warps: int = 4
    num_stages: int = 3

    def describe(self) -> str:
        return (f"bm={self.bm} bn={self.bn} bk={self.bk} split_k={self.split_k} split_n={self.split_n} "
                f"scale={self.scale} lookup={self.lookup} swap_ab={self.swap_ab} warps={self.num_warps} "
                f"stages={self.num_stages}")


def _pow2(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def _groups(block_size: int, bk: int) -> tuple[int, int, int]:
    """(g, gps, reps): columns per scale group, groups per K step, groups per absmax block.

    A group is min(block_size, bk) columns, covered by one absmax value per row.
    """
    g = min(block_size, bk)
    return g, bk // g, block_size // g


def check_config(cfg: GpuConfig, m: int, n: int, k: int, block_size: int, forward: bool, dtype=None) -> None:
    """Raise UnsupportedShape unless `cfg` can run this problem (M is padded, so it never disqualifies).
    dtype: x's dtype, where known (the "prmt" lookup yields bfloat16 values: bfloat16 only)."""
    del m
    bad = common.UnsupportedShape
    for name in ("bm", "bn", "bk", "split_k", "split_n"):
        if not _pow2(getattr(cfg, name)):
            raise bad(f"{name}={getattr(cfg, name)} is not a power of two")
    if cfg.bm < 16 or cfg.bn < 16:
        raise bad(f"bm={cfg.bm} and bn={cfg.bn} must be at least 16 (tensor-core dot minimum)")
    if cfg.lookup not in LOOKUPS or cfg.scale not in SCALES:
        raise bad(f"unknown lookup {cfg.lookup!r} or scale {cfg.scale!r}")
    if cfg.lookup == "prmt" and not (forward and cfg.scale == "dot"):
        raise bad("the prmt lookup gives bfloat16 codebook values: forward with \"dot\" scaling only")
    if cfg.lookup == "prmt" and dtype is not None and np.dtype(dtype) != np.dtype(jnp.bfloat16):
        raise bad(f"the prmt lookup gives bfloat16 codebook values: bfloat16 x only, not {np.dtype(dtype).name}")
    g, _, _ = _groups(block_size, cfg.bk)
    if g < 32:
        raise bad(f"scale group of {g} columns (block_size={block_size}, bk={cfg.bk}) < 32")
    split = cfg.split_k if forward else 1
    span = max(block_size, cfg.bk) * split
    if k % span:
        raise bad(f"K={k} is not a multiple of {span} (bk={cfg.bk}, block_size={block_size}, split_k={split})")
    split_n = 1 if forward else cfg.split_n
    if n % (cfg.bn * split_n):
        raise bad(f"N={n} is not a multiple of {cfg.bn * split_n} (bn={cfg.bn}, split_n={split_n})")


def _num_sms() -> int:
    return common.gpu_target().sms


def smem_estimate(cfg: GpuConfig, forward: bool, dtype) -> int:
    """Shared memory of a kernel's software pipeline: num_stages - 1 buffers of the tiles one reduction step loads
    (forward: x [bm, bk] and the packed codes [bn, bk/2]; dX: dY [bm, bn] and the codes [bn, bk/2]). XLA's Triton
    asked an RTX A6000 (sm_86) for exactly this at the M = 64 forward plan, 120 KiB of its 99 KiB
    (`shared.kernels.matmul_4bit.aot_check`)."""
    item = np.dtype(dtype).itemsize
    a = cfg.bm * (cfg.bk if forward else cfg.bn) * item
    return (cfg.num_stages - 1) * (a + cfg.bn * cfg.bk // 2)


def fit_gpu(cfg: GpuConfig, forward: bool, dtype) -> GpuConfig:
    """A plan made for Hopper, fitted to the GPU planned for (`common.gpu_target`): without wgmma (Ampere, Ada)
    row tiles of at most 128 (the dX kernel at bm = 256 spilled 232 bytes on sm_86), then fewer pipeline stages,
    narrower row tiles and K tiles until its shared memory fits. On an H100 every plan fits unchanged."""
    target = common.gpu_target()
    if not target.has_wgmma and cfg.bm > 128:
        cfg = dataclasses.replace(cfg, bm=128)
    while smem_estimate(cfg, forward, dtype) > target.smem_per_block:
        if cfg.num_stages > 2:
            cfg = dataclasses.replace(cfg, num_stages=cfg.num_stages - 1)
        elif cfg.bm > 16:
            cfg = dataclasses.replace(cfg, bm=cfg.bm // 2)
        elif cfg.bk > 64:
            cfg = dataclasses.replace(cfg, bk=cfg.bk // 2)
        else:
            break
    return cfg


def _split_for(programs: int, extent: int, span: int, num_sms: int, max_split: int | None = None) -> int:
    """Split of a reduction axis of `extent`: double until about two programs per SM (or the axis runs out of
    whole spans, or `max_split` is reached)."""
    split = 1
    while (programs * split < 2 * num_sms and extent % (span * split * 2) == 0
           and (max_split is None or split * 2 <= max_split)):
        split *= 2
    return split


def plan_forward(m: int, n: int, k: int, block_size: int, dtype, *, num_sms: int | None = None) -> GpuConfig:
    """Forward tiles for x [M, K] @ W[N, K].T: the measured best from the tuning table (`tuned_config`) when it
    has this problem for this GPU, else `heuristic_forward`."""
    return tuned_config("fwd", m, n, k, block_size, dtype) or heuristic_forward(m, n, k, block_size, dtype,
                                                                              num_sms=num_sms)


def heuristic_forward(m: int, n: int, k: int, block_size: int, dtype, *, num_sms: int | None = None) -> GpuConfig:
    """Default forward tiles for x [M, K] @ W[N, K].T.

    Chosen from the sm_90 SASS of each candidate (instructions per weight element, registers, spills; see
    README.md), not from timings: `scripts.bench_4bit` measures them on a GPU.
    bfloat16, M <= 64 (decode): bm = 16..64, bn = 64, bk = 256, "dot" scaling, swapped operands (the weight is
      the wgmma M side), split-K up to ~2 programs per SM.
    bfloat16, larger M: "tile" scaling, 128 x 128 tiles, or 256 x 128 from M = 256 on (the dequantization of a
      weight tile is shared by bm rows; at bm = 256 the issue slots it needs stay below the wgmma time), smaller
      ones (bm 128, then bn 64, then bm 64) while the output has fewer tiles than about the GPU's SMs, swapped
      operands: the dequantized tile is then wgmma's A operand, which Hopper reads from registers, instead of B,
      which must be staged through shared memory (sm_90 SASS: 4 instead of 20 STS per kernel, HGMMA with a
      register A; CUTLASS's mixed-input GEMMs put the converted operand there for the same reason). The H100 run
      of the unswapped kernel at 4096 x 4096, M = 4096 took 3.3x the bf16 dot; the swapped one is not yet timed.
    float32 (FMA dots, IEEE precision): small tiles that do not spill.
    num_sms: streaming multiprocessors to fill (default: the GPU's, or an H100's 132 without one).
    """
    num_sms = num_sms or _num_sms()
    f32 = np.dtype(dtype) == np.float32
    bn_of = lambda target: common.largest_pow2_divisor(n, target)  # noqa: E731
    bk_of = lambda target: common.largest_pow2_divisor(k, target)  # noqa: E731
    if m <= 64:
        bm = max(16, common.next_pow2(m))
        if f32:
            bm = min(bm, 32)
            cfg = GpuConfig(bm=bm, bn=bn_of(32), bk=bk_of(64 if bm == 16 else 32), scale="tile", num_warps=4,
                            num_stages=2)
        else:
            cfg = GpuConfig(bm=bm, bn=bn_of(64), bk=bk_of(256), scale="dot", swap_ab=True, num_warps=4,
                            num_stages=4)
        programs = (n // max(cfg.bn, 1)) * (-(-m // cfg.bm))
        split = _split_for(programs, k, max(block_size, cfg.bk), num_sms)
        cfg = dataclasses.replace(cfg, split_k=split)
    elif f32:
        cfg = GpuConfig(bm=64, bn=bn_of(64), bk=bk_of(32), scale="tile", num_warps=8, num_stages=2)
    else:
        cfg = GpuConfig(bm=128, bn=bn_of(128), bk=bk_of(64), scale="tile", swap_ab=True, num_warps=8, num_stages=4)
        if m >= 256:
            cfg = dataclasses.replace(cfg, bm=256, num_stages=3)
        # Fill the GPU: an output of too few tiles (M = 512 at N = 4096 is 2 x 32 = 64 programs for 132 SMs)
        # leaves SMs idle, which costs more than the dequantization that smaller tiles repeat.
        for smaller in (dict(bm=128, num_stages=4), dict(bn=bn_of(64)), dict(bm=64, num_warps=4)):
            if -(-m // cfg.bm) * (n // cfg.bn) >= num_sms * 7 // 8:
                break
            cfg = dataclasses.replace(cfg, **smaller) if cfg.bm >= smaller.get("bm", 0) else cfg
    cfg = fit_gpu(cfg, True, dtype)
    check_config(cfg, m, n, k, block_size, forward=True, dtype=dtype)
    return cfg


def plan_backward(m: int, n: int, k: int, block_size: int, dtype, *, num_sms: int | None = None) -> GpuConfig:
    """dX tiles: the tuning table's (`tuned_config`) when it has this problem for this GPU, else
    `heuristic_backward`."""
    return tuned_config("dx", m, n, k, block_size, dtype) or heuristic_backward(m, n, k, block_size, dtype,
                                                                             num_sms=num_sms)


def heuristic_backward(m: int, n: int, k: int, block_size: int, dtype, *, num_sms: int | None = None) -> GpuConfig:
    """Default dX tiles: [bm, bk] output tiles, bn rows of W per reduction step (same method as plan_forward),
    and split-N up to about two programs per SM when the output has few tiles (an H100 run of the unsplit kernel
    at M <= 16 had K/bk = 64 programs for 132 SMs and took 3-4x the forward's time), as long as the float32
    partials (written and read: 8 * S * M * K bytes) stay within half the packed weight's N * K / 2 bytes.
    bfloat16: swapped operands (dXᵀ = Wᵀ dYᵀ), so the dequantized tile is wgmma's register-sourced A operand, as
    in the forward (not yet timed on a GPU)."""
    num_sms = num_sms or _num_sms()
    f32 = np.dtype(dtype) == np.float32
    bn = common.largest_pow2_divisor(n, 32 if f32 else 64)
    if f32:
        cfg = GpuConfig(bm=16 if m <= 16 else 32, bn=bn, bk=common.largest_pow2_divisor(k, 64), num_warps=4,
                        num_stages=2)
    elif m < 256:
        bm = max(16, min(128, common.next_pow2(m)))
        cfg = GpuConfig(bm=bm, bn=bn, bk=common.largest_pow2_divisor(k, 128), swap_ab=True,
                        num_warps=8 if bm == 128 else 4, num_stages=3)
    else:
        cfg = GpuConfig(bm=256, bn=bn, bk=common.largest_pow2_divisor(k, 128), swap_ab=True, num_warps=8,
                        num_stages=3)
    max_split = max(1, n // (32 * m))  # 8 * S * M * K <= N * K / 4
    while True:  # narrower K tiles when split-N alone cannot give every SM a program (N = 11008 = 172 * 64)
        programs = (-(-m // cfg.bm)) * (k // cfg.bk)
        cfg = dataclasses.replace(cfg, split_n=_split_for(programs, n, cfg.bn, num_sms, max_split))
        if programs * cfg.split_n >= num_sms or cfg.bk // 2 < max(32, min(64, block_size)):
            break
        cfg = dataclasses.replace(cfg, bk=cfg.bk // 2)
    cfg = fit_gpu(cfg, False, dtype)
    check_config(cfg, m, n, k, block_size, forward=False, dtype=dtype)
    return cfg


# ---- tuning: candidate configs, and the table of measured winners (`scripts.bench_4bit --tune`) ----

TUNED_PATH = os.path.join(os.path.dirname(__file__), "tuned_gpu.json")
_TUNED: dict | None = None  # (device_kind, pass, N, K, block_size, dtype, m_bucket) -> Tuned


def m_bucket(m: int) -> int:
    """The M a tuned config stands for: 16 (decode, M <= 16), 64, 256, 1024, or 4096 (M > 1024: training and
    prefill). 1024 apart from 4096: at M = 512 the output of a 4096-wide layer has a quarter of the tiles, so
    the best tiles there are not M = 4096's (SM fill)."""
    for b in (16, 64, 256, 1024):
        if m <= b:
            return b
    return 4096


def config_from_dict(d: dict) -> GpuConfig:
    """A GpuConfig from its `dataclasses.asdict` form; unknown or missing fields are an error naming them."""
    fields = {f.name for f in dataclasses.fields(GpuConfig)}
    unknown = set(d) - fields
    if unknown:
        raise ValueError(f"unknown GpuConfig field(s) {sorted(unknown)} in {d}")
    return GpuConfig(**d)


@dataclasses.dataclass(frozen=True)
class Tuned:
    """A tuning-table entry as the planner reads it: the fastest correct config, its time, and the XLA
    dequantize-then-dot time of the same problem measured in the same run (None in tables that lack it)."""

    config: GpuConfig
    us: float | None = None
    xla_us: float | None = None


def load_tuned(path: str | None = None) -> dict:
    """Read a tuning table: {"entries": [{"device_kind", "pass", "N", "K", "block_size", "dtype", "m_bucket",
    "config": {GpuConfig fields}, "us", "xla_us", ...}]} -> {key: Tuned}. A missing file is an empty table; a
    malformed one is an error naming the file and the entry."""
    path = path or TUNED_PATH
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    table = {}
    for i, e in enumerate(data.get("entries", [])):
        try:
            times = [e.get(name) for name in ("us", "xla_us")]
            if any(t is not None and not (isinstance(t, (int, float)) and t > 0) for t in times):
                raise ValueError(f"us / xla_us must be positive numbers, got {times}")
            table[tuned_key(e)] = Tuned(config_from_dict(e["config"]), *(None if t is None else float(t)
                                                                         for t in times))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: entry {i} is malformed ({type(err).__name__}: {err}): {e}") from err
    return table


def problem_key(device_kind: str, pass_: str, n: int, k: int, block_size: int, dtype, m: int) -> tuple:
    """The tuning-table key of a problem: (device_kind, pass, N, K, block_size, dtype name, M bucket of m)."""
    return (device_kind, pass_, int(n), int(k), int(block_size), np.dtype(dtype).name, m_bucket(int(m)))


def tuned_key(entry: dict) -> tuple:
    """The key of a tuning-table entry (its "m_bucket" is the M it stands for)."""
    e = entry
    return problem_key(e["device_kind"], e["pass"], e["N"], e["K"], e["block_size"], e["dtype"], e["m_bucket"])


def merge_tuned(path: str, entries: list[dict]) -> None:
    """Add entries to the tuning table at `path`, replacing those with the same key; written atomically, and only
    if the result loads."""
    old = []
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f).get("entries", [])
    new_keys = {tuned_key(e) for e in entries}
    merged = [e for e in old if tuned_key(e) not in new_keys] + list(entries)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"about": "measured by `python -m scripts.bench_4bit --tune`; read by "
                            "shared.kernels.matmul_4bit.pallas_gpu.plan_forward/plan_backward",
                   "entries": merged}, f, indent=1)
    load_tuned(tmp)
    os.replace(tmp, path)


def set_tuned_table(table: dict | None) -> None:
    """Replace the in-memory tuning table (None: re-read `TUNED_PATH` on next use). For tests and tuning runs."""
    global _TUNED
    _TUNED = table


def _device_kind() -> str:
    return jax.devices()[0].device_kind


def tuned_entry(pass_: str, m: int, n: int, k: int, block_size: int, dtype) -> Tuned | None:
    """The tuning-table entry of this problem on this GPU (device kind), or None. Entries whose config no longer
    passes `check_config` are ignored (the table may predate a kernel change)."""
    global _TUNED
    if _TUNED is None:
        _TUNED = load_tuned()
    if not _TUNED:
        return None
    entry = _TUNED.get(problem_key(_device_kind(), pass_, n, k, block_size, dtype, m))
    if entry is None:
        return None
    try:
        check_config(entry.config, m, n, k, block_size, forward=pass_ == "fwd", dtype=dtype)
    except common.UnsupportedShape:
        return None
    return entry


def tuned_config(pass_: str, m: int, n: int, k: int, block_size: int, dtype) -> GpuConfig | None:
    """The tuned config of this problem on this GPU, or None (`tuned_entry`)."""
    entry = tuned_entry(pass_, m, n, k, block_size, dtype)
    return None if entry is None else entry.config


def xla_measured_faster(pass_: str, m: int, n: int, k: int, block_size: int, dtype) -> str | None:
    """Why XLA's dequantize-then-dot should run this problem instead of the fused kernel: the tuning run on this
    GPU measured it faster than the best fused config (both timed in the same run), or None."""
    entry = tuned_entry(pass_, m, n, k, block_size, dtype)
    if entry is None or entry.us is None or entry.xla_us is None or entry.xla_us >= entry.us:
        return None
    return (f"XLA dequantize-then-dot measured faster on this GPU for {pass_} N={n} K={k} M bucket "
            f"{m_bucket(m)}: {entry.xla_us:.1f} us vs the fused kernel's {entry.us:.1f} us ({TUNED_PATH})")


# (bm, bn, bk, warps, stages) tried at large M by `candidates`
_LARGE_M_TILES_FWD = ((256, 128, 64, 8, 3), (256, 128, 64, 8, 4), (256, 128, 128, 8, 2), (128, 128, 64, 8, 4),
                      (128, 128, 64, 4, 4), (128, 256, 64, 8, 3), (256, 64, 64, 8, 4), (128, 128, 128, 8, 3))
_LARGE_M_TILES_DX = ((256, 64, 128, 8, 3), (256, 64, 64, 8, 3), (256, 128, 64, 8, 3), (256, 64, 128, 8, 4),
                     (256, 32, 128, 8, 4), (128, 64, 128, 8, 4), (128, 128, 128, 8, 3), (128, 64, 128, 4, 4))


def candidates(m: int, n: int, k: int, block_size: int, dtype, forward: bool) -> list[GpuConfig]:
    """The configs `scripts.bench_4bit --tune` times for one problem: the heuristic plan first, then variations
    around it (lookup, scaling, operand swap, splits, tiles, warps, stages); only those `check_config` accepts,
    without duplicates."""
    plan = (heuristic_forward if forward else heuristic_backward)(m, n, k, block_size, dtype)
    r = dataclasses.replace
    out = [plan]
    if np.dtype(dtype) == np.float32:
        out += [r(plan, num_stages=3), r(plan, num_warps=8 if plan.num_warps == 4 else 4), r(plan, bk=plan.bk * 2)]
    elif forward and m <= 64:
        out += [r(plan, lookup="prmt"), r(plan, lookup="gather"), r(plan, scale="tile"),
                r(plan, swap_ab=False, scale="tile"), r(plan, lookup="prmt", bk=512), r(plan, lookup="prmt", bn=128),
                r(plan, split_k=plan.split_k * 2), r(plan, split_k=max(1, plan.split_k // 2)),
                r(plan, bn=32), r(plan, bn=128), r(plan, bk=128), r(plan, bk=512),
                r(plan, num_stages=3), r(plan, num_stages=5), r(plan, num_warps=8)]
    elif m <= 64:
        out += [r(plan, split_n=plan.split_n * 2), r(plan, split_n=max(1, plan.split_n // 2)),
                r(plan, bk=plan.bk // 2), r(plan, bk=plan.bk * 2), r(plan, bn=32), r(plan, bn=128),
                r(plan, num_stages=2), r(plan, num_stages=4), r(plan, num_warps=8), r(plan, lookup="gather"),
                r(plan, swap_ab=not plan.swap_ab)]
    else:  # large M: bigger shared tiles, more stages, with and without the dequantized tile as wgmma's A operand
        tiles = _LARGE_M_TILES_FWD if forward else _LARGE_M_TILES_DX
        for bm, bn, bk, warps, stages in tiles:
            for swap in (True, False):
                out.append(r(plan, bm=bm, bn=bn, bk=bk, num_warps=warps, num_stages=stages, swap_ab=swap))
    valid = []
    for cfg in out:
        try:
            check_config(cfg, m, n, k, block_size, forward, dtype)
        except common.UnsupportedShape:
            continue
        if cfg not in valid:
            valid.append(cfg)
    return valid


def _dot(a, b, contract: tuple[int, int], cdt):
    """dot_general of 2-D a and b over the given (a_dim, b_dim), float32 accumulation, IEEE float32 for float32."""
    precision = jax.lax.Precision.HIGHEST if cdt == jnp.float32 else None
    return jax.lax.dot_general(a, b, ((contract[:1], contract[1:]), ((), ())), precision=precision,
                               preferred_element_type=jnp.float32)


def _dequant(codes_u8, cb_ref, lookup: str, qtype: str, interpret: bool = False):
    """uint8 [r, c] -> float32 [r, 2c] codebook values in natural column order (high nibble first); bfloat16 for
    the "prmt" lookup (inline PTX on the device, its jnp emulation in interpret mode: `prmt.py`)."""
    if lookup == "prmt":
        find = prmt.lookup_emulated if interpret else prmt.lookup_asm
        v_hi, v_lo = find(codes_u8, "hi", qtype), find(codes_u8, "lo", qtype)
        r, c = codes_u8.shape
        return jnp.stack([v_hi, v_lo], axis=-1).reshape(r, 2 * c)
    p = codes_u8.astype(jnp.int32)
    hi, lo = jnp.right_shift(p, 4), jnp.bitwise_and(p, 15)
    if lookup == "gather":
        v_hi, v_lo = cb_ref[hi], cb_ref[lo]
    else:
        values = common.codebook_values(qtype)
        v_hi, v_lo = common.select_lookup(hi, values), common.select_lookup(lo, values)
    r, c = codes_u8.shape
    return jnp.stack([v_hi, v_lo], axis=-1).reshape(r, 2 * c)


def _scale_tile(w, scale):
    """w [r, gps * g] times a per-(row, group) scale [r, gps] (or [r] for one group)."""
    r, cols = w.shape
    if scale.ndim == 1:
        return w * scale[:, None]
    gps = scale.shape[1]
    return (w.reshape(r, gps, cols // gps) * scale[:, :, None]).reshape(r, cols)


@dataclasses.dataclass(frozen=True)
class _Static:
    """What a kernel body needs to know besides its refs (all static)."""

    cfg: GpuConfig
    qtype: str
    block_size: int
    m: int  # rows of x / dY (loads and stores of a partial last row block are masked)
    n_abs: int  # absmax columns of the whole weight: K / block_size
    nested_block_size: int | None  # double quantization: decode the statistics in the kernel
    interpret: bool = False  # Pallas interpret mode (the prmt lookup runs its jnp emulation)
    stacked: bool = False  # the codes are a stacked [L, N, K/2] array handed whole, the layer index a last input


def _absmax(raw, dq_refs, st: _Static, row_ids, blk_ids):
    """float32 absmax from the loaded statistics `raw` ([r] or [r, w]) of global rows / absmax columns.

    Double quantization: absmax = dynamic_map[code] * nested[(row * K/bs + col) // 256] + offset, as
    `doublequant.dequantize_statistics` (the product may be fused into an FMA here: last-bit differences).
    """
    if st.nested_block_size is None:
        return raw
    dmap_ref, nested_ref, offset_ref = dq_refs
    flat = row_ids * st.n_abs + blk_ids if raw.ndim == 1 else row_ids[:, None] * st.n_abs + blk_ids[None, :]
    return dmap_ref[raw.astype(jnp.int32)] * nested_ref[flat // st.nested_block_size] + offset_ref[0]


def _row_mask(st: _Static, bm: int, width: int):
    """[bm, width] mask of the rows of this M block that exist, or None when M is a multiple of bm."""
    if st.m % bm == 0:
        return None
    rows = pl.program_id(0) * bm + jax.lax.broadcasted_iota(jnp.int32, (bm, width), 0)
    return rows < st.m


def _load_rows(ref, mask):
    return ref[...] if mask is None else plgpu.load(ref, mask=mask, other=0)


def _store_rows(ref, value, mask):
    if mask is None:
        ref[...] = value
    else:
        plgpu.store(ref, value, mask=mask)


class _Codes:
    """This program's block of codes, indexed like a ref of shape `shape` (`codes[:, pl.ds(a, b)]`).

    Unstacked, the block is the BlockSpec's (`ref` itself). Stacked, `ref` is the whole [L, N, K/2] array and the
    block starts at (`layer`, `row0`, `col0`): each load becomes one indexer with the offsets added in (Triton
    lowers one indexer per load, so a view of a view would not do)."""

    def __init__(self, ref, shape: tuple[int, int], layer=None, row0=0, col0=0):
        self.ref, self.shape, self.layer, self.row0, self.col0 = ref, shape, layer, row0, col0

    def __getitem__(self, idx):
        if self.layer is None:
            return self.ref[idx]
        rows, cols = idx
        return self.ref[self.layer, _shifted(rows, self.row0, self.shape[0]),
                        _shifted(cols, self.col0, self.shape[1])]


def _shifted(index, start, size: int):
    """A slice of a block (`:` or `pl.ds`) as the same slice of the whole array, the block starting at `start`."""
    if isinstance(index, slice):
        if index != slice(None):
            raise ValueError(f"only ':' or pl.ds slices of a code block, got {index}")
        return pl.ds(start, size)
    return pl.ds(start + index.start, index.size)


def _split_refs(rest, st: _Static):
    """(statistics refs, layer ref or None, output ref) of a kernel's trailing refs."""
    *ins, o_ref = rest
    return (ins[:-1], ins[-1], o_ref) if st.stacked else (ins, None, o_ref)


def _forward_kernel(x_ref, p_ref, a_ref, cb_ref, *rest, st: _Static):
    dq_refs, layer_ref, o_ref = _split_refs(rest, st)
    cfg = st.cfg
    g, gps, reps = _groups(st.block_size, cfg.bk)
    bm, bn = x_ref.shape[0], cfg.bn
    if layer_ref is not None:
        width = x_ref.shape[1] // 2
        p_ref = _Codes(p_ref, (bn, width), layer_ref[0], pl.program_id(1) * bn, pl.program_id(2) * width)
    steps = x_ref.shape[1] // cfg.bk
    cdt = x_ref.dtype
    acc_shape = (bn, bm) if cfg.swap_ab else (bm, bn)
    row_ids = pl.program_id(1) * bn + jax.lax.broadcasted_iota(jnp.int32, (bn,), 0)
    blk0 = pl.program_id(2) * a_ref.shape[1]  # first absmax column of this K split
    mask_g = _row_mask(st, bm, g) if cfg.scale == "dot" else None
    mask_k = _row_mask(st, bm, cfg.bk) if cfg.scale == "tile" else None

    def product(x, w):  # x [bm, c] . w [bn, c] -> acc layout
        return _dot(w, x, (1, 1), cdt) if cfg.swap_ab else _dot(x, w, (1, 1), cdt)

    def body_dot(t, acc):
        for b in range(gps):
            grp = t * gps + b
            w = _dequant(p_ref[:, pl.ds(grp * (g // 2), g // 2)], cb_ref, cfg.lookup, st.qtype,
                         st.interpret).astype(cdt)
            part = product(_load_rows(x_ref.at[:, pl.ds(grp * g, g)], mask_g), w)
            col = grp // reps
            a = _absmax(a_ref[:, col], dq_refs, st, row_ids, blk0 + col)
            acc += part * (a[:, None] if cfg.swap_ab else a[None, :])
        return acc

    def body_tile(t, acc):
        w = _dequant(p_ref[:, pl.ds(t * (cfg.bk // 2), cfg.bk // 2)], cb_ref, cfg.lookup, st.qtype)
        if reps == 1:
            cols = blk0 + t * gps + jax.lax.broadcasted_iota(jnp.int32, (gps,), 0)
            scale = _absmax(a_ref[:, pl.ds(t * gps, gps)], dq_refs, st, row_ids, cols)
        else:
            scale = _absmax(a_ref[:, t // reps], dq_refs, st, row_ids, blk0 + t // reps)
        w = _scale_tile(w, scale).astype(cdt)
        return acc + product(_load_rows(x_ref.at[:, pl.ds(t * cfg.bk, cfg.bk)], mask_k), w)

    body = body_dot if cfg.scale == "dot" else body_tile
    acc = jax.lax.fori_loop(0, steps, body, jnp.zeros(acc_shape, jnp.float32))
    out = (acc.T if cfg.swap_ab else acc).astype(o_ref.dtype)
    _store_rows(o_ref, out, _row_mask(st, bm, bn))


def _backward_kernel(dy_ref, p_ref, a_ref, cb_ref, *rest, st: _Static):
    dq_refs, layer_ref, o_ref = _split_refs(rest, st)
    cfg = st.cfg
    _, gps, reps = _groups(st.block_size, cfg.bk)
    cdt = dy_ref.dtype
    bm, bn = dy_ref.shape[0], cfg.bn
    if layer_ref is not None:
        ns = dy_ref.shape[1]
        p_ref = _Codes(p_ref, (ns, cfg.bk // 2), layer_ref[0], pl.program_id(2) * ns, pl.program_id(1) * (cfg.bk // 2))
    steps = p_ref.shape[0] // bn
    kb = pl.program_id(1)
    row0 = pl.program_id(2) * p_ref.shape[0]  # first row of W in this N split
    if reps == 1:
        blk = kb * gps + jax.lax.broadcasted_iota(jnp.int32, (gps,), 0)
    else:
        blk = kb // reps
    mask = _row_mask(st, bm, bn)

    def body(t, acc):
        rows = pl.ds(t * bn, bn)
        w = _dequant(p_ref[rows, :], cb_ref, cfg.lookup, st.qtype)  # [bn, bk]
        row_ids = row0 + t * bn + jax.lax.broadcasted_iota(jnp.int32, (bn,), 0)
        scale = _absmax(a_ref[rows, :] if reps == 1 else a_ref[rows, 0], dq_refs, st, row_ids, blk)
        w = _scale_tile(w, scale).astype(cdt)
        dy = _load_rows(dy_ref.at[:, rows], mask)
        return acc + (_dot(w, dy, (0, 1), cdt) if cfg.swap_ab else _dot(dy, w, (1, 0), cdt))

    acc_shape = (cfg.bk, bm) if cfg.swap_ab else (bm, cfg.bk)
    acc = jax.lax.fori_loop(0, steps, body, jnp.zeros(acc_shape, jnp.float32))
    out = acc.T if cfg.swap_ab else acc
    _store_rows(o_ref, out.astype(o_ref.dtype), _row_mask(st, bm, cfg.bk))


def _table(qtype: str) -> jax.Array:
    return jnp.asarray(np.asarray(common.codebook_values(qtype), np.float32))


def _compiler_params(cfg: GpuConfig):
    return plgpu.CompilerParams(num_warps=cfg.num_warps, num_stages=cfg.num_stages)


def _stats_operands(absmax, nested, offset, index_map):
    """The statistics operands and their BlockSpecs beyond `absmax`: the dynamic map, nested absmax, offset."""
    if nested is None:
        return (), ()
    dmap = jnp.asarray(codebooks.dynamic_map())
    operands = (dmap, nested, jnp.reshape(offset, (1,)).astype(jnp.float32))
    specs = tuple(pl.BlockSpec(op.shape, index_map) for op in operands)
    return operands, specs


# JAX's Pallas Triton lowering (0.10, 0.11) offsets loads with int32 when an operand has at most 2**32 bytes, and
# Triton's pointer arithmetic takes int32 offsets as signed: a load past 2**31 bytes into one operand would wrap
_INT32_SAFE_BYTES = 2**31


def _in_place(packed, layer):
    """(codes, layer) for the kernels: a stacked array read in place, or, where that array has more than 2**31
    but at most 2**32 bytes (offsets that Triton's int32 arithmetic would wrap: e.g. LLaMA-33B's stacked MLP
    codes), the layer's slice (a copy, as XLA would make) and no layer."""
    if layer is None:
        return packed, None
    nbytes = packed.size * packed.dtype.itemsize
    if _INT32_SAFE_BYTES <= nbytes <= 2**32:
        return jax.lax.dynamic_index_in_dim(packed, layer, keepdims=False), None
    return packed, jnp.reshape(layer, (1,)).astype(jnp.int32)


def _codes_operand(packed, layer, block: tuple[int, int], index_map):
    """The codes' BlockSpec, and the layer operand and its BlockSpec (none when unstacked): a stacked array is
    handed whole (the kernel offsets its loads, `_Codes`), the layer index as a [1] int32 array."""
    if layer is None:
        return pl.BlockSpec(block, index_map), (), ()
    whole = lambda *_: (0,) * packed.ndim  # noqa: E731
    return pl.BlockSpec(packed.shape, whole), (layer,), (pl.BlockSpec((1,), lambda *_: (0,)),)


@functools.partial(jax.jit, static_argnames=("cfg", "qtype", "block_size", "nested_block_size", "interpret"))
def forward(x, packed, absmax, nested=None, offset=None, layer=None, *, cfg: GpuConfig, qtype: str, block_size: int,
            nested_block_size: int | None = None, interpret: bool = False):
    """x [M, K] @ W.T -> [M, N] in x's dtype.

    absmax: float32 [N, K/bs]; or, with double quantization, the uint8 statistic codes [N, K/bs] together with
    `nested` (float32 nested absmax), `offset` (float32 scalar) and `nested_block_size`, decoded in the kernel.
    layer: None; or an int32 scalar, `packed` being stacked [L, N, K/2] codes of which the kernel reads layer
    `layer`'s in place (the statistics are that layer's).
    """
    m, k = x.shape
    n = packed.shape[-2]
    check_config(cfg, m, n, k, block_size, forward=True, dtype=x.dtype)
    s = cfg.split_k
    out_dtype = x.dtype if s == 1 else jnp.float32
    packed, layer = _in_place(packed, layer)
    st = _Static(cfg, qtype, block_size, m, absmax.shape[1], nested_block_size if nested is not None else None,
                 interpret, stacked=layer is not None)
    dq_ops, dq_specs = _stats_operands(absmax, nested, offset, lambda i, j, p: (0,))
    codes_spec, layer_ops, layer_specs = _codes_operand(packed, layer, (cfg.bn, k // 2 // s), lambda i, j, p: (j, p))
    out = pl.pallas_call(
        functools.partial(_forward_kernel, st=st),
        out_shape=jax.ShapeDtypeStruct((s, m, n), out_dtype),
        grid=(pl.cdiv(m, cfg.bm), n // cfg.bn, s),
        in_specs=[
            pl.BlockSpec((cfg.bm, k // s), lambda i, j, p: (i, p)),
            codes_spec,
            pl.BlockSpec((cfg.bn, absmax.shape[1] // s), lambda i, j, p: (j, p)),
            pl.BlockSpec((16,), lambda i, j, p: (0,)),
            *dq_specs,
            *layer_specs,
        ],
        out_specs=pl.BlockSpec((None, cfg.bm, cfg.bn), lambda i, j, p: (p, i, j)),
        compiler_params=_compiler_params(cfg),
        interpret=interpret,
        name="matmul_4bit_fwd",
    )(x, packed, absmax, _table(qtype), *dq_ops, *layer_ops)
    return out[0] if s == 1 else out.sum(axis=0).astype(x.dtype)


@functools.partial(jax.jit, static_argnames=("cfg", "qtype", "block_size", "nested_block_size", "interpret"))
def backward(dy, packed, absmax, nested=None, offset=None, layer=None, *, cfg: GpuConfig, qtype: str,
             block_size: int, nested_block_size: int | None = None, interpret: bool = False):
    """dY [M, N] @ W -> dX [M, K] in dY's dtype (statistics and `layer` as in `forward`)."""
    m, n = dy.shape
    k = 2 * packed.shape[-1]
    check_config(cfg, m, n, k, block_size, forward=False, dtype=dy.dtype)
    s = cfg.split_n
    ns = n // s  # rows of W per N split
    out_dtype = dy.dtype if s == 1 else jnp.float32
    _, gps, reps = _groups(block_size, cfg.bk)
    if reps == 1:
        abs_spec = pl.BlockSpec((ns, gps), lambda i, kb, p: (p, kb))
    else:
        abs_spec = pl.BlockSpec((ns, 1), lambda i, kb, p: (p, kb // reps))
    packed, layer = _in_place(packed, layer)
    st = _Static(cfg, qtype, block_size, m, absmax.shape[1], nested_block_size if nested is not None else None,
                 interpret, stacked=layer is not None)
    dq_ops, dq_specs = _stats_operands(absmax, nested, offset, lambda i, kb, p: (0,))
    codes_spec, layer_ops, layer_specs = _codes_operand(packed, layer, (ns, cfg.bk // 2), lambda i, kb, p: (p, kb))
    out = pl.pallas_call(
        functools.partial(_backward_kernel, st=st),
        out_shape=jax.ShapeDtypeStruct((s, m, k), out_dtype),
        grid=(pl.cdiv(m, cfg.bm), k // cfg.bk, s),
        in_specs=[
            pl.BlockSpec((cfg.bm, ns), lambda i, kb, p: (i, p)),
            codes_spec,
            abs_spec,
            pl.BlockSpec((16,), lambda i, kb, p: (0,)),
            *dq_specs,
            *layer_specs,
        ],
        out_specs=pl.BlockSpec((None, cfg.bm, cfg.bk), lambda i, kb, p: (p, i, kb)),
        compiler_params=_compiler_params(cfg),
        interpret=interpret,
        name="matmul_4bit_dx",
    )(dy, packed, absmax, _table(qtype), *dq_ops, *layer_ops)
    return out[0] if s == 1 else out.sum(axis=0).astype(dy.dtype)
