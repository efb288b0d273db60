"""Benchmark of the fused 4-bit matmul (shared.kernels.matmul_4bit) against a bf16 dot and XLA dequantize-then-dot.

    python -m scripts.bench_4bit [--json OUT] [--quick] [--shapes 8192x8192,...] [--ms 1,16,4096] [--variants]
    python -m scripts.bench_4bit --tune [--shapes ...] [--ms 16,4096] [--json OUT] [--tune_table TABLE.json]

For each weight shape N x K (default: the LLaMA projections 4096x4096, 11008x4096, 8192x8192, 22016x8192) and
each M (default: powers of two 1..8192), three methods, each forward alone and forward + dX (jax.vjp):
  bf16   x @ W.T with W a bfloat16 [N, K] array (what the 4-bit weight replaces)
  xla    matmul_4bit(..., backend="xla"): dequantize the whole weight to bf16, then dot (and again for dX)
  fused  matmul_4bit on the platform's Pallas kernel (GPU: Triton; TPU: Mosaic), or --backend's (e.g.
         pallas_mosaic_gpu: Mosaic GPU); forward and dX kernels
Timing: jitted callables; warm-up calls (compilation included) are not timed; then batches of back-to-back calls
(enough to fill ~5 ms, so dispatch overlaps device time), `jax.block_until_ready` after each batch; the median
per-call time over the batches is reported. `dispatch_floor_us` is the same measurement of a trivial op.
Achieved TB/s = (weight bytes as stored by that method + x, y (+ dY, dX) bytes) / time; TFLOP/s = 2MNK (4MNK with
dX) / time; speedup = bf16 time / time. Every fused result is also compared with the XLA reference on the device
(`max_rel_err`). One failing configuration records its error and the run goes on. Results go to stdout as a
table and, with --json, to a file with the device kind, jax version and git commit.

--check: before timing, a correctness sweep on the device: the planned kernel against a float64 host reference
(x @ W.T and dY @ W, W dequantized in float32 then widened), fresh random inputs per case, NF4/FP4/INT4 with and
without double quantization, float32 (tolerance 1e-5) and bfloat16 (1e-2), odd M, several N, K and block sizes;
the rows go into the JSON under "checks" and a failing case is reported, not fatal.
--quick: tiny shapes; on a CPU-only machine the fused kernel runs in Pallas interpret mode (this is what the test
suite runs). --variants: also time the fused forward with the other lookup (select tree vs gather) and scaling;
with --backend pallas_mosaic_gpu, `pallas_mosaic_gpu.variants` of the forward and of the dX kernel.
--tune: see `tune`: the candidate configs of the GPU kernels, each checked then timed; the winners go into the
tuning table that `pallas_gpu.plan_forward/plan_backward` read (shared/kernels/matmul_4bit/tuned_gpu.json).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import math
import platform
import statistics
import sys
import time
import traceback
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from shared.tracking.tracker import commit_label

LLAMA_SHAPES = ((4096, 4096), (11008, 4096), (8192, 8192), (22016, 8192))
FULL_MS = tuple(2**i for i in range(14))  # 1 .. 8192
QUICK_CPU_SHAPES = ((128, 512), (256, 256))
QUICK_CPU_MS = (1, 3, 16)
QUICK_DEVICE_SHAPES = ((4096, 4096), (8192, 8192))
QUICK_DEVICE_MS = (1, 16, 4096)
BATCH_SECONDS = 0.005


def _median_seconds(fn: Callable, args: tuple, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        jax.block_until_ready(fn(*args))
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    single = time.perf_counter() - t
    inner = int(min(200, max(1, math.ceil(BATCH_SECONDS / max(single, 1e-7)))))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = None
        for _ in range(inner):
            out = fn(*args)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - t) / inner)
    return statistics.median(times)


def _rel_err(y, ref) -> float:
    y = np.asarray(jnp.asarray(y, jnp.float32))
    ref = np.asarray(jnp.asarray(ref, jnp.float32))
    return float(np.max(np.abs(y - ref)) / max(float(np.max(np.abs(ref))), 1e-30))


CHECK_CASES = (  # (N, K, block_size): small, non-square, large-K, block sizes other than 64
    (256, 512, 64), (384, 1024, 64), (128, 2048, 128), (512, 256, 32), (1024, 4096, 256), (4096, 4096, 64))
CHECK_MS = (1, 3, 17, 80, 300, 1000)
CHECK_TOL = {"float32": 1e-5, "bfloat16": 1e-2}


@functools.partial(jax.jit, static_argnames=("backend", "interpret"))
def _forward_and_dx(x, dy, q, *, backend: str, interpret: bool):
    from shared.kernels.matmul_4bit import api

    y, vjp = jax.vjp(lambda x: api.matmul_4bit(x, q, backend=backend, interpret=interpret), x)
    return y, vjp(dy)[0]


def check(*, backend: str, interpret: bool, log=print, cases=CHECK_CASES, ms=CHECK_MS) -> list[dict]:
    """Fused forward and dX against a float64 host reference; one row per (case, qtype, dq, dtype, M)."""
    from shared.kernels.matmul_4bit import api
    from shared.quant import quantize

    rows = []
    seed = 0
    for n, k, bs in cases:
        for qtype in ("nf4", "fp4", "int4"):
            for dq in (False, True):
                seed += 1
                key = jax.random.key(seed)
                w = jax.random.normal(key, (n, k), jnp.float32) * 0.05
                q = quantize(w, qtype, bs, dq)
                w64 = np.asarray(q.dequantize(jnp.float32), np.float64)
                for dtype in (jnp.float32, jnp.bfloat16):
                    # every M for NF4+DQ bf16 (the QLoRA case); two Ms for the other combinations
                    case_ms = ms if (qtype == "nf4" and dq and dtype == jnp.bfloat16) else sorted({ms[1], ms[-2]})
                    for m in case_ms:
                        kx, kd = jax.random.split(jax.random.fold_in(key, m * 2 + (dtype == jnp.bfloat16)))
                        x = jax.random.normal(kx, (m, k), jnp.float32).astype(dtype)
                        dy = jax.random.normal(kd, (m, n), jnp.float32).astype(dtype)
                        name = np.dtype(dtype).name
                        row = {"N": n, "K": k, "block_size": bs, "qtype": qtype, "double_quant": dq, "dtype": name,
                               "M": m, "error": None}
                        try:
                            plan = api.plans((m, k), q, dtype, backend)
                            row["plan"] = {kk: (v.describe() if hasattr(v, "describe") else v)
                                           for kk, v in plan.items()}
                            # False: a pass fell back to the reference (e.g. float32 on pallas_mosaic_gpu)
                            row["fused_both"] = plan["forward"] is not None and plan["backward"] is not None
                            y, dx = _forward_and_dx(x, dy, q, backend=backend, interpret=interpret)
                            x64, dy64 = np.asarray(x.astype(jnp.float32), np.float64), np.asarray(
                                dy.astype(jnp.float32), np.float64)
                            for label, got, ref in (("fwd", y, x64 @ w64.T), ("dx", dx, dy64 @ w64)):
                                got = np.asarray(jnp.asarray(got, jnp.float32), np.float64)
                                row[f"{label}_finite"] = bool(np.isfinite(got).all())
                                row[f"{label}_rel_err"] = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
                            row["ok"] = (row["fwd_finite"] and row["dx_finite"] and
                                         max(row["fwd_rel_err"], row["dx_rel_err"]) <= CHECK_TOL[name])
                        except Exception as e:  # noqa: BLE001 - record and go on
                            row["error"] = f"{type(e).__name__}: {str(e)[:800]}"
                            row["ok"] = False
                        rows.append(row)
                        if not row["ok"]:
                            log(f"  CHECK FAIL {n}x{k} bs{bs} {qtype}{'+dq' if dq else ''} {name} M={m}: "
                                f"{row.get('error') or (row.get('fwd_rel_err'), row.get('dx_rel_err'))}")
    bad = [r for r in rows if not r["ok"]]
    worst = {d: max([max(r.get("fwd_rel_err", 0), r.get("dx_rel_err", 0)) for r in rows
                     if r["dtype"] == d and r["error"] is None] or [float("nan")]) for d in CHECK_TOL}
    unfused = sum(1 for r in rows if r.get("fused_both") is False)
    log(f"# check: {len(rows) - len(bad)}/{len(rows)} cases within tolerance"
        f"{f' ({unfused} of them not fused: a pass ran the XLA reference)' if unfused else ''}; "
        f"worst relative error {worst}")
    return rows


def _methods(q, w_bf16, backend: str, interpret: bool, variants: bool, m: int, dtype) -> dict[str, tuple]:
    """name -> (forward fn(x), forward+dX fn(x, dy) or None, weight bytes)."""
    from shared.kernels.matmul_4bit import api, pallas_gpu, pallas_mosaic_gpu

    def bf16_fwd(x):
        return x @ w_bf16.T

    def fused(x):
        return api.matmul_4bit(x, q, backend=backend, interpret=interpret)

    def xla(x):
        return api.matmul_4bit(x, q, backend="xla")

    def with_dx(f):
        def both(x, dy):
            y, vjp = jax.vjp(f, x)
            return y, vjp(dy)[0]
        return both

    out = {
        "bf16": (bf16_fwd, with_dx(bf16_fwd), w_bf16.size * 2),
        "xla": (xla, with_dx(xla), q.nbytes),
        "fused": (fused, with_dx(fused), q.nbytes),
    }
    if variants and backend == "pallas_gpu":
        plan = api.plans((m, q.shape[1]), q, dtype, backend)["forward"]
        if plan is not None:
            other = "select" if plan.lookup == "gather" else "gather"
            alts = {f"fused[{other}]": dataclasses.replace(plan, lookup=other)}
            flip = dataclasses.replace(plan, scale="tile" if plan.scale == "dot" else "dot")
            alts[f"fused[{flip.scale}]"] = flip
            if plan.split_k > 1:
                alts["fused[split1]"] = dataclasses.replace(plan, split_k=1)
            if plan.lookup != "prmt":
                alts["fused[prmt]"] = dataclasses.replace(plan, lookup="prmt")
            for label, cfg in alts.items():
                try:
                    pallas_gpu.check_config(cfg, m, q.shape[0], q.shape[1], q.block_size, forward=True, dtype=dtype)
                except Exception:  # noqa: BLE001 - variant not applicable to this shape
                    continue
                fn = (lambda c: lambda x: api.matmul_4bit_configured(x, q, backend=backend, forward=c, backward=None,
                                                                     interpret=interpret))(cfg)
                out[label] = (fn, None, q.nbytes)
    if variants and backend == "pallas_mosaic_gpu":
        plan = api.plans((m, q.shape[1]), q, dtype, backend)
        for pass_, cfg in (("fwd", plan["forward"]), ("dx", plan["backward"])):
            if cfg is None:
                continue
            for label, alt in pallas_mosaic_gpu.variants(cfg, forward=pass_ == "fwd").items():
                try:
                    pallas_mosaic_gpu.check_config(alt, m, q.shape[0], q.shape[1], q.block_size,
                                                   forward=pass_ == "fwd", dtype=np.dtype(dtype))
                except Exception:  # noqa: BLE001 - variant not applicable to this shape
                    continue
                fwd_cfg, bwd_cfg = (alt, plan["backward"]) if pass_ == "fwd" else (plan["forward"], alt)
                fn = (lambda f, b: lambda x: api.matmul_4bit_configured(x, q, backend=backend, forward=f, backward=b,
                                                                        interpret=interpret))(fwd_cfg, bwd_cfg)
                # a forward variant is timed forward only; a dX variant forward + dX (with the planned forward)
                out[f"fused[{pass_}:{label}]"] = (fn if pass_ == "fwd" else None, None if pass_ == "fwd" else
                                                  with_dx(fn), q.nbytes)
    return out


def _bench_shape(n: int, k: int, ms, *, backend: str, interpret: bool, repeats: int, warmup: int, qtype: str,
                 double_quant: bool, block_size: int, dx: bool, variants: bool, log) -> list[dict]:
    from shared.kernels.matmul_4bit import api
    from shared.quant import quantize

    rows = []
    key = jax.random.key(n * 31 + k)
    kw, kx, kd = jax.random.split(key, 3)
    w = jax.random.normal(kw, (n, k), jnp.float32) * 0.02
    q = quantize(w, qtype, block_size, double_quant)
    w_bf16 = w.astype(jnp.bfloat16)
    del w
    dtype = jnp.bfloat16
    for m in ms:
        row: dict[str, Any] = {"N": n, "K": k, "M": m, "dtype": "bfloat16", "qtype": qtype,
                               "double_quant": double_quant, "block_size": block_size, "backend": backend,
                               "interpret": interpret, "error": None}
        try:
            plan = api.plans((m, k), q, dtype, backend) if backend != "xla" else {}
            row["plan"] = {kk: (v.describe() if hasattr(v, "describe") else v) for kk, v in plan.items()}
            x = jax.random.normal(jax.random.fold_in(kx, m), (m, k), dtype)
            dy = jax.random.normal(jax.random.fold_in(kd, m), (m, n), dtype)
            act_fwd = 2 * (m * k + m * n)
            act_both = 2 * (2 * m * k + 2 * m * n)
            methods = _methods(q, w_bf16, backend, interpret, variants, m, dtype)
            ref_y = ref_dx = None
            for name, (fwd, both, wbytes) in methods.items():
                res: dict[str, Any] = {}
                try:
                    if fwd is not None:  # (None: a dX variant, timed forward + dX only)
                        f = jax.jit(fwd)
                        t = _median_seconds(f, (x,), repeats, warmup)
                        res.update(fwd_ms=t * 1e3, fwd_tbps=(wbytes + act_fwd) / t / 1e12,
                                   fwd_tflops=2 * m * n * k / t / 1e12)
                        if name == "xla":
                            ref_y = f(x)
                        if name.startswith("fused") and ref_y is not None:
                            res["fwd_rel_err"] = _rel_err(f(x), ref_y)
                    if dx and both is not None:
                        g = jax.jit(both)
                        t = _median_seconds(g, (x, dy), repeats, warmup)
                        res.update(fwdbwd_ms=t * 1e3, fwdbwd_tbps=(2 * wbytes + act_both) / t / 1e12,
                                   fwdbwd_tflops=4 * m * n * k / t / 1e12)
                        if name == "xla":
                            ref_dx = g(x, dy)[1]
                        if name.startswith("fused") and ref_dx is not None:
                            res["dx_rel_err"] = _rel_err(g(x, dy)[1], ref_dx)
                except Exception as e:  # noqa: BLE001 - keep going, record it
                    res["error"] = f"{type(e).__name__}: {str(e)[:500]}"
                    log(f"  ! {n}x{k} M={m} {name}: {res['error']}")
                row[name] = res
            base = row.get("bf16", {})
            for name in methods:
                res = row[name]
                for p in ("fwd", "fwdbwd"):
                    if f"{p}_ms" in res and f"{p}_ms" in base:
                        res[f"{p}_speedup_vs_bf16"] = base[f"{p}_ms"] / res[f"{p}_ms"]
            errs = [row["fused"].get(e) for e in ("fwd_rel_err", "dx_rel_err") if row["fused"].get(e) is not None]
            row["max_rel_err"] = max(errs) if errs else None
            if row["fused"].get("error"):
                row["error"] = "fused: " + row["fused"]["error"]
        except Exception as e:  # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {str(e)[:500]}"
            row["traceback"] = traceback.format_exc()[-2000:]
            log(f"  ! {n}x{k} M={m}: {row['error']}")
        rows.append(row)
        log(_format_row(row))
    return rows


def _fmt(v, spec):
    width = spec.split(".")[0]
    return format(v, spec) if isinstance(v, (int, float)) else format("-", ">" + width if width else "")


HEADER = (f"{'N x K':>12} {'M':>5} {'method':>14} | {'fwd ms':>9} {'TB/s':>6} {'TFLOP/s':>8} {'x bf16':>7} | "
          f"{'fwd+dX ms':>9} {'TFLOP/s':>8} {'x bf16':>7} | rel err")


def _format_row(row: dict) -> str:
    lines = []
    for name in [k for k in row if isinstance(row[k], dict) and k not in ("plan",)]:
        r = row[name]
        err = r.get("fwd_rel_err"), r.get("dx_rel_err")
        err_s = "/".join(_fmt(e, ".1e") for e in err) if any(e is not None for e in err) else ""
        if r.get("error"):
            err_s = "ERROR " + r["error"][:60]
        lines.append(f"{row['N']:>6}x{row['K']:<5} {row['M']:>5} {name:>14} | {_fmt(r.get('fwd_ms'), '9.4f')} "
                     f"{_fmt(r.get('fwd_tbps'), '6.2f')} {_fmt(r.get('fwd_tflops'), '8.2f')} "
                     f"{_fmt(r.get('fwd_speedup_vs_bf16'), '7.2f')} | {_fmt(r.get('fwdbwd_ms'), '9.4f')} "
                     f"{_fmt(r.get('fwdbwd_tflops'), '8.2f')} {_fmt(r.get('fwdbwd_speedup_vs_bf16'), '7.2f')} | "
                     f"{err_s}")
    if row.get("error") and not lines:
        lines.append(f"{row['N']:>6}x{row['K']:<5} {row['M']:>5} ERROR {row['error'][:100]}")
    return "\n".join(lines)


def _targets(rows: list[dict]) -> dict[str, Any]:
    """The issue's targets, evaluated on what was measured (None where not measured)."""
    def get(row, method, field):
        return row.get(method, {}).get(field)

    small = [get(r, "fused", "fwd_speedup_vs_bf16") for r in rows
             if r["N"] == 8192 and r["K"] == 8192 and r["M"] <= 16]
    small = [s for s in small if s is not None]
    big = [(get(r, "fused", "fwdbwd_speedup_vs_bf16"), get(r, "fused", "fwdbwd_ms"), get(r, "xla", "fwdbwd_ms"))
           for r in rows if r["M"] >= 2048]
    big = [b for b in big if None not in b]
    return {
        "decode_8192x8192_M<=16_fwd_min_speedup": min(small) if small else None,
        "decode_target_3x_met": (min(small) >= 3.0) if small else None,
        "large_M>=2048_fwdbwd_min_speedup": min(b[0] for b in big) if big else None,
        "large_target_0.9x_met": all(b[0] >= 0.9 for b in big) if big else None,
        "large_fused_faster_than_xla_everywhere": all(b[1] < b[2] for b in big) if big else None,
    }


def run(*, quick: bool = False, json_path: str | None = None, shapes=None, ms=None, repeats: int | None = None,
        warmup: int = 2, qtype: str = "nf4", double_quant: bool = True, block_size: int = 64,
        backend: str | None = None, dx: bool = True, variants: bool = False, do_check: bool = False,
        log=print) -> list[dict]:
    """Run the benchmark; returns the result rows (also written to `json_path` with the machine's metadata)."""
    from shared.kernels.matmul_4bit import api

    on_cpu = jax.default_backend() not in ("gpu", "tpu")
    interpret = on_cpu and backend != "xla"
    backend = backend or api.default_backend(interpret=interpret)
    if shapes is None:
        shapes = (QUICK_CPU_SHAPES if on_cpu else QUICK_DEVICE_SHAPES) if quick else LLAMA_SHAPES
    if ms is None:
        ms = (QUICK_CPU_MS if on_cpu else QUICK_DEVICE_MS) if quick else FULL_MS
    repeats = repeats or (3 if on_cpu else 10)
    device = jax.devices()[0]
    meta = {
        "device_kind": device.device_kind,
        "platform": device.platform,
        "num_devices": jax.device_count(),
        "jax_version": jax.__version__,
        "jaxlib_version": getattr(jax.lib, "__version__", None) or _jaxlib_version(),
        "python": platform.python_version(),
        "git_commit": commit_label(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "args": {"quick": quick, "shapes": [list(s) for s in shapes], "ms": list(ms), "repeats": repeats,
                 "warmup": warmup, "qtype": qtype, "double_quant": double_quant, "block_size": block_size,
                 "backend": backend, "interpret": interpret, "dx": dx, "variants": variants},
    }
    floor = jax.jit(lambda a: a + 1)
    meta["dispatch_floor_us"] = _median_seconds(floor, (jnp.ones((8,), jnp.float32),), 5, 2) * 1e6
    log(f"# {meta['device_kind']} ({meta['platform']}), jax {meta['jax_version']}, commit {meta['git_commit']}, "
        f"backend {backend}{' (interpret)' if interpret else ''}, {qtype}{' + double quant' if double_quant else ''}"
        f", block {block_size}; dispatch floor {meta['dispatch_floor_us']:.1f} us")
    rows: list[dict] = []
    checks: list[dict] | None = None

    def dump():
        if json_path:
            extra = {} if checks is None else {"checks_passed": sum(r["ok"] for r in checks),
                                               "checks_total": len(checks), "checks": checks}
            with open(json_path, "w") as f:
                json.dump({**meta, "targets": _targets(rows), **extra, "results": rows}, f, indent=1)

    if do_check:
        checks = check(backend=backend, interpret=interpret, log=log,
                       **({"cases": ((128, 512, 64), (256, 256, 32)), "ms": (1, 3, 17)} if on_cpu else {}))
        dump()
    log(HEADER)

    for n, k in shapes:
        try:
            rows += _bench_shape(n, k, ms, backend=backend, interpret=interpret, repeats=repeats, warmup=warmup,
                                 qtype=qtype, double_quant=double_quant, block_size=block_size, dx=dx,
                                 variants=variants, log=log)
        except Exception as e:  # noqa: BLE001 - e.g. out of memory while quantizing one shape
            rows.append({"N": n, "K": k, "M": None, "error": f"{type(e).__name__}: {str(e)[:500]}"})
            log(f"  ! shape {n}x{k}: {rows[-1]['error']}")
        dump()
    targets = _targets(rows)
    log("# targets: " + json.dumps(targets))
    dump()
    return rows


TUNE_MS = (16, 4096, 64, 256, 1024)  # one M per `pallas_gpu.m_bucket`, decode and training first
TUNE_SHAPES = ((8192, 8192), (4096, 4096), (11008, 4096), (22016, 8192))


def tune(*, shapes=TUNE_SHAPES, ms=TUNE_MS, budget_s: float = 500.0, max_candidates: int | None = None,
         json_path: str | None = None, table_path: str | None = None, repeats: int | None = None, warmup: int = 2,
         block_size: int = 64, skip=None, log=print) -> list[dict]:
    """Time every candidate config (`pallas_gpu.candidates`) of the GPU kernels, forward and dX, bfloat16 with
    NF4 + double quantization, for each (shape, M); each candidate is first checked against the XLA reference
    (bf16 tolerance 1e-2): a wrong or failing one is recorded and never chosen. The fastest correct one per
    (pass, shape, M bucket) is an entry in `pallas_gpu.load_tuned`'s format. Stops starting new candidates after
    `budget_s` seconds (the entries so far are kept). Writes the entries, the machine and every timing to
    `json_path`; with `table_path`, also merges each entry into that tuning table as it is found (same key:
    replaced), and problems the table already has are skipped, as are those in `skip` (tuning-table keys,
    `tuned_key`). Each row also times the bf16 dot and XLA's dequantize-then-dot of the same pass.
    On a CPU-only machine the kernels run in interpret mode (for tests: the timings mean nothing there)."""
    from shared.kernels.matmul_4bit import api, pallas_gpu, reference
    from shared.quant import quantize

    on_cpu = jax.default_backend() != "gpu"
    interpret = on_cpu
    if table_path and interpret:
        raise ValueError("--tune_table needs a GPU: interpret-mode timings must not enter the tuning table")
    repeats = repeats or (1 if on_cpu else 10)
    device = jax.devices()[0]
    meta = {"device_kind": device.device_kind, "platform": device.platform, "jax_version": jax.__version__,
            "python": platform.python_version(), "git_commit": commit_label(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "args": {"shapes": [list(s) for s in shapes], "ms": list(ms), "budget_s": budget_s,
                     "max_candidates": max_candidates, "repeats": repeats, "block_size": block_size,
                     "qtype": "nf4", "double_quant": True, "dtype": "bfloat16", "interpret": interpret}}
    dtype = jnp.bfloat16
    start = time.perf_counter()
    rows: list[dict] = []
    entries: list[dict] = []
    out_of_time = False

    def dump():
        if json_path:
            with open(json_path, "w") as f:
                json.dump({**meta, "out_of_time": out_of_time, "entries": entries, "results": rows}, f, indent=1)

    skip = set(skip or ()) | set(pallas_gpu.load_tuned(table_path) if table_path else ())  # not tuned again
    log(f"# tuning on {meta['device_kind']}, jax {meta['jax_version']}, commit {meta['git_commit']}"
        f"{' (interpret mode: timings meaningless)' if interpret else ''}")
    for n, k in shapes:
        w = jax.random.normal(jax.random.key(n * 31 + k), (n, k), jnp.float32) * 0.02
        q = quantize(w, "nf4", block_size, True)
        w_bf16 = w.astype(dtype)
        del w
        stats = api.gpu_stats(q)
        nbs = stats.pop("nested_block_size")
        arrays = (stats["absmax"], stats["nested"], stats["offset"])
        for m in ms:
            kx, kd = jax.random.split(jax.random.key(m))
            x = jax.random.normal(kx, (m, k), dtype)
            dy = jax.random.normal(kd, (m, n), dtype)
            for pass_ in ("fwd", "dx"):
                if time.perf_counter() - start > budget_s:
                    out_of_time = True
                    break
                if pallas_gpu.problem_key(meta["device_kind"], pass_, n, k, block_size, dtype, m) in skip:
                    log(f"{pass_:>3} {n:>6}x{k:<5} M={m:<5} already tuned: skipped")
                    continue
                fwd = pass_ == "fwd"
                arg = x if fwd else dy
                xla = jax.jit(reference.matmul if fwd else reference.matmul_dx)  # dequantize, then dot
                ref = xla(arg, q)
                bf16 = jax.jit(lambda a, w: a @ w.T) if fwd else jax.jit(lambda a, w: a @ w)
                row = {"pass": pass_, "N": n, "K": k, "M": m, "m_bucket": pallas_gpu.m_bucket(m),
                       "bf16_us": _median_seconds(bf16, (arg, w_bf16), repeats, warmup) * 1e6,
                       "xla_us": _median_seconds(xla, (arg, q), repeats, warmup) * 1e6, "candidates": []}
                cands = pallas_gpu.candidates(m, n, k, block_size, dtype, fwd)[:max_candidates]
                for cfg in cands:
                    if time.perf_counter() - start > budget_s:
                        out_of_time = True
                        break
                    kernel = pallas_gpu.forward if fwd else pallas_gpu.backward
                    fn = jax.jit(functools.partial(kernel, cfg=cfg, qtype="nf4", block_size=block_size,
                                                   nested_block_size=nbs, interpret=interpret))
                    args = (arg, q.packed, *arrays)  # weights as arguments, not constants folded into the program
                    res: dict[str, Any] = {"config": dataclasses.asdict(cfg)}
                    try:
                        res["rel_err"] = _rel_err(fn(*args), ref)
                        res["ok"] = res["rel_err"] <= CHECK_TOL["bfloat16"]
                        if res["ok"]:
                            res["us"] = _median_seconds(fn, args, repeats, warmup) * 1e6
                    except Exception as e:  # noqa: BLE001 - e.g. too much shared memory: record, go on
                        res.update(ok=False, error=f"{type(e).__name__}: {str(e)[:300]}")
                    row["candidates"].append(res)
                timed = [c for c in row["candidates"] if c.get("us") is not None]
                if timed:
                    best = min(timed, key=lambda c: c["us"])
                    row["best"] = best["config"]
                    row["best_us"] = best["us"]
                    row["heuristic_us"] = row["candidates"][0].get("us")  # the plan is the first candidate
                    entry = {"device_kind": meta["device_kind"], "pass": pass_, "N": n, "K": k,
                                    "block_size": block_size, "dtype": "bfloat16", "m_bucket": row["m_bucket"],
                                    "config": best["config"], "tuned_at_M": m, "us": best["us"],
                                    "heuristic_us": row["heuristic_us"], "bf16_us": row["bf16_us"],
                                    "xla_us": row["xla_us"],
                                    "jax_version": meta["jax_version"], "git_commit": meta["git_commit"],
                                    "date": meta["date"]}
                    entries.append(entry)
                    if table_path:  # as it goes: a run cut off by its time limit keeps its winners
                        pallas_gpu.merge_tuned(table_path, [entry])
                    log(f"{pass_:>3} {n:>6}x{k:<5} M={m:<5} best {best['us']:9.1f} us (heuristic "
                        f"{_fmt(row['heuristic_us'], '9.1f')}, bf16 {row['bf16_us']:8.1f}, XLA {row['xla_us']:8.1f}) "
                        f"of {len(timed)}/{len(row['candidates'])}: "
                        f"{pallas_gpu.config_from_dict(best['config']).describe()}")
                else:
                    log(f"{pass_:>3} {n:>6}x{k:<5} M={m:<5} no candidate ran correctly")
                rows.append(row)
                dump()
            if out_of_time:
                break
        if out_of_time:
            log(f"# tuning budget of {budget_s:.0f} s spent; entries so far are kept")
            break
    dump()
    if table_path:
        log(f"# merged {len(entries)} entries into {table_path}")
    return entries


def _jaxlib_version() -> str | None:
    try:
        import jaxlib

        return jaxlib.__version__
    except Exception:  # noqa: BLE001
        return None


def _parse_shapes(text: str):
    return tuple(tuple(int(v) for v in s.lower().split("x")) for s in text.split(",") if s)


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(prog="python -m scripts.bench_4bit", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=None, help="write results and machine metadata to this JSON file")
    p.add_argument("--quick", action="store_true", help="tiny shapes (CPU: Pallas interpret mode)")
    p.add_argument("--shapes", default=None, help="comma-separated NxK list (default: the LLaMA shapes)")
    p.add_argument("--ms", default=None, help="comma-separated M list (default: 1, 2, 4, ..., 8192)")
    p.add_argument("--repeats", type=int, default=None, help="timed batches per measurement")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--qtype", default="nf4", choices=["nf4", "fp4", "int4"])
    p.add_argument("--no_double_quant", action="store_true")
    p.add_argument("--block_size", type=int, default=64)
    p.add_argument("--backend", default=None, choices=["xla", "pallas_gpu", "pallas_tpu", "pallas_mosaic_gpu"],
                   help="the fused kernels to time (default: the platform's; pallas_mosaic_gpu: Hopper, bf16)")
    p.add_argument("--no_dx", action="store_true", help="forward only")
    p.add_argument("--variants", action="store_true", help="also time other GPU lookups / scalings")
    p.add_argument("--check", action="store_true", help="first a correctness sweep against a float64 reference")
    p.add_argument("--tune", action="store_true",
                   help="instead of the benchmark: time the GPU kernels' candidate configs (--shapes, --ms)")
    p.add_argument("--tune_budget_s", type=float, default=500.0, help="--tune: start no candidate after this")
    p.add_argument("--tune_table", default=None,
                   help="--tune: merge the winners into this table (e.g. shared/kernels/matmul_4bit/tuned_gpu.json)")
    a = p.parse_args(argv)
    if a.tune:
        tune(shapes=_parse_shapes(a.shapes) if a.shapes else TUNE_SHAPES,
             ms=tuple(int(v) for v in a.ms.split(",")) if a.ms else TUNE_MS, budget_s=a.tune_budget_s,
             json_path=a.json, table_path=a.tune_table, repeats=a.repeats, warmup=a.warmup,
             block_size=a.block_size)
        return
    run(quick=a.quick, json_path=a.json, shapes=_parse_shapes(a.shapes) if a.shapes else None,
        ms=tuple(int(v) for v in a.ms.split(",")) if a.ms else None, repeats=a.repeats, warmup=a.warmup,
        qtype=a.qtype, double_quant=not a.no_double_quant, block_size=a.block_size, backend=a.backend,
        dx=not a.no_dx, variants=a.variants, do_check=a.check)


if __name__ == "__main__":
    main(sys.argv[1:])
