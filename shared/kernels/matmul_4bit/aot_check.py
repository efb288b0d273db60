"""Compile the kernels for a GPU or TPU this machine does not have, through XLA's own pipeline, and read ptxas.

    python -m shared.kernels.matmul_4bit.aot_check [--target h100] [--backend pallas_mosaic_gpu] \
        [--shapes 4096x4096,8192x8192] [--ms 1,16,4096] [--variants] [--json OUT]
    python -m shared.kernels.matmul_4bit.aot_check --target v5e:1x1 --backend pallas_tpu [--json OUT]

For each shape and token count M: forward + dX of `matmul_4bit` (bfloat16 x, NF4 with double quantization) is
jitted for the target GPU through `shared.aot` (XLA's deviceless compilation: the Triton kernels through XLA's
Triton, the Mosaic GPU kernels through the Mosaic GPU compiler, both to PTX and a cubin with ptxas); the kernels'
PTX is kept and given to the same ptxas with -v. Each row: compiled or the error, the passes that fell back to
the XLA reference, and per kernel its registers, spilled bytes and wgmma instructions (how many take their A
operand from registers). This is the pipeline that runs on a GPU with this jaxlib (the device image's newer JAX
has its own), but nothing is executed: it proves compilation and register budgets, not speed or results.
`triton_check` does the same for the Triton kernels through pip Triton (any JAX version's lowering).
A TPU target (one chip of a slice, e.g. "v5e:1x1") compiles the TPU kernels through XLA:TPU and the Mosaic
compiler of libtpu (`shared.aot`): each row says whether they compiled and how many kernel calls the program has.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from shared import aot
from shared.kernels.matmul_4bit import api, common, pallas_mosaic_gpu
from shared.quant import QuantizedArray

SHAPES = ((4096, 4096), (11008, 4096), (8192, 8192), (22016, 8192))
MS = (1, 16, 64, 256, 512, 4096)
_WGMMA = re.compile(r"wgmma\.mma_async[^;]*?\}\s*,\s*(\{|%rd)")


def kernel_report(ptx_files: list[str], arch: str, prefix: str = "matmul_4bit") -> list[dict]:
    """The kernels named prefix* in these PTX files: `aot.ptxas_report` of the ptxas log that the compiler left
    beside a file (Mosaic GPU's, NAME.ptxas), else of the plugin's ptxas -v run on it (XLA's Triton kernels), plus
    "wgmma" and "wgmma_a_registers" counted in its PTX (one kernel per file: each is compiled on its own)."""
    out = []
    for path in sorted(ptx_files):
        with open(path) as f:
            ptx = f.read()
        entries = re.findall(r"\.visible \.entry (\w+)\(", ptx)
        if not any(e.startswith(prefix) for e in entries):
            continue
        log = os.path.splitext(path)[0] + ".ptxas"
        if os.path.exists(log):
            with open(log) as f:
                text = f.read()
        else:
            r = subprocess.run([aot.ptxas(), "-v", "--gpu-name", arch, path, "-o", os.devnull], capture_output=True,
                               text=True)
            if r.returncode:
                out.append({"kernel": ",".join(entries), "arch": arch, "ptxas_error": r.stderr.strip()[-2000:]})
                continue
            text = r.stderr
        operands = _WGMMA.findall(ptx)
        for k in aot.ptxas_report(text):
            if k["kernel"].startswith(prefix):
                out.append({**k, "wgmma": len(operands), "wgmma_a_registers": operands.count("{")})
    return out


@contextlib.contextmanager
def _mosaic_dump(folder: str):
    """Mosaic GPU kernels write their PTX and ptxas log into `folder` while compiling (read at each compilation;
    a kernel identical to one compiled earlier in the process is not compiled, nor written, again)."""
    saved = {k: os.environ.get(k) for k in ("MOSAIC_GPU_DUMP_TO", "MOSAIC_GPU_DUMP_PTX", "MOSAIC_GPU_DUMP_PTXAS")}
    os.environ.update(MOSAIC_GPU_DUMP_TO=folder, MOSAIC_GPU_DUMP_PTX="1", MOSAIC_GPU_DUMP_PTXAS="1")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _random_q(n: int, k: int, seed: int = 0) -> QuantizedArray:
    from shared.quant import quantize

    w = np.random.default_rng(seed).standard_normal((n, k), dtype=np.float32)
    return quantize(jnp.asarray(w), "nf4", double_quant=True)


def compile_case(target: str, backend: str, n: int, k: int, m: int, *, forward=None, backward=None,
                 q: QuantizedArray | None = None) -> dict:
    """Compile forward + dX at [m, k] @ [n, k]^T for `target` with `backend`'s planned kernels (or the given
    configs) and report the ptxas figures of the kernels compiled for it ("kernels"; a Mosaic GPU kernel identical
    to one an earlier case of this process compiled is reported there only)."""
    q = _random_q(n, k) if q is None else q
    tpu = aot.is_tpu(target)
    if tpu:
        aot.tpu_spec(target)
        scope = api.use(backend, lower_only=True)
    else:
        gpu = aot.spec(target)
        arch = "sm_{}{}{}".format(*gpu.compute_capability, "a" if gpu.compute_capability == (9, 0) else "")
        scope = api.compiling_for(gpu, backend)

    def f(x, dy, q):
        if forward is None and backward is None:
            fn = lambda x: api.matmul_4bit(x, q)  # noqa: E731
        else:
            fn = lambda x: api.matmul_4bit_configured(x, q, backend=backend, forward=forward,  # noqa: E731
                                                      backward=backward)
        y, vjp = jax.vjp(fn, x)
        return y, vjp(dy)[0]

    row = {"target": target, "backend": backend, "n": n, "k": k, "m": m}
    if forward is not None or backward is not None:
        row["configs"] = {"forward": repr(forward), "backward": repr(backward)}
    args = aot.abstract(target, (jax.ShapeDtypeStruct((m, k), jnp.bfloat16),
                                 jax.ShapeDtypeStruct((m, n), jnp.bfloat16), q))
    common.reset_fallback_warnings()
    with tempfile.TemporaryDirectory() as xla_dir, tempfile.TemporaryDirectory() as mosaic_dir, \
            warnings.catch_warnings(record=True) as caught, _mosaic_dump(mosaic_dir), scope:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        try:
            compiled = jax.jit(f).lower(*args).compile(compiler_options={} if tpu else {"xla_dump_to": xla_dir})
            row["ok"], row["error"] = True, None
        except Exception as e:  # noqa: BLE001 - the row says what failed
            row["ok"], row["error"] = False, f"{type(e).__name__}: {str(e)[:2000]}"
        row["compile_s"] = round(time.perf_counter() - t0, 2)
        row["fallbacks"] = [str(w.message) for w in caught if "matmul_4bit:" in str(w.message)]
        if tpu:  # Mosaic compiles inside libtpu: no PTX to read; the program's kernel calls and memory instead
            row["kernels"] = []
            if row["ok"]:
                row["kernel_calls"] = compiled.as_text().count('custom_call_target="tpu_custom_call"')
                row["memory"] = aot.memory_stats(compiled)
        else:
            ptx = glob.glob(os.path.join(xla_dir, "*.ptx")) + glob.glob(os.path.join(mosaic_dir, "*.ptx"))
            row["kernels"] = kernel_report(ptx, arch) if row["ok"] else []
    return row


def run(target: str = "h100", backend: str = "pallas_mosaic_gpu", shapes=SHAPES, ms=MS, variants: bool = False,
        log=print) -> list[dict]:
    why = aot.unavailable(target)
    if why:
        raise SystemExit(why)
    rows = []
    for n, k in shapes:
        q = _random_q(n, k)
        for m in ms:
            cases = [(None, None, "planned")]
            if variants and backend == "pallas_mosaic_gpu":
                with api.compiling_for(aot.spec(target), backend):
                    plan = api.plans((m, k), q, jnp.bfloat16, backend)
                for fwd in (True, False):
                    cfg = plan["forward" if fwd else "backward"]
                    if cfg is None:
                        continue
                    for label, alt in pallas_mosaic_gpu.variants(cfg, forward=fwd).items():
                        try:
                            pallas_mosaic_gpu.check_config(alt, m, n, k, q.block_size, forward=fwd,
                                                           dtype=np.dtype(jnp.bfloat16))
                        except Exception:  # noqa: BLE001 - not applicable to this shape
                            continue
                        pair = (alt, plan["backward"]) if fwd else (plan["forward"], alt)
                        cases.append((*pair, f"{'fwd' if fwd else 'dx'}:{label}"))
            for fwd, bwd, label in cases:
                row = compile_case(target, backend, n, k, m, forward=fwd, backward=bwd, q=q)
                row["case"] = label
                rows.append(row)
                if "kernel_calls" in row:
                    row["kernels"] = []
                ks = f"{row['kernel_calls']} kernel calls" if "kernel_calls" in row else "; ".join(f"{r['kernel']}: {r.get('registers')} regs, spills {r.get('spill_stores')}/"
                               f"{r.get('spill_loads')} B, wgmma {r.get('wgmma')} ({r.get('wgmma_a_registers')} "
                               f"A in registers)" if "ptxas_error" not in r else f"{r['kernel']}: PTXAS ERROR"
                               for r in row["kernels"])
                log(f"{target} {backend} {n}x{k} M={m} {label}: "
                    f"{'ok' if row['ok'] else 'FAILED ' + row['error'][:300]} in {row['compile_s']:.1f} s"
                    f"{'; ' + str(len(row['fallbacks'])) + ' fallbacks' if row['fallbacks'] else ''}"
                    f"{'; ' + ks if ks else ''}")
    bad = [r for r in rows if not r["ok"] or r["fallbacks"] or any(
        "ptxas_error" in k or k.get("spill_stores") or k.get("spill_loads") for k in r["kernels"])]
    log(f"{len(rows)} cases, {len(rows) - len(bad)} compiled with every pass fused and no spills")
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default="h100", help=f"a GPU ({', '.join(aot.GPUS)}) or a TPU slice "
                   f"GENERATION:AxB ({', '.join(aot.TPUS)}; one chip: e.g. v5e:1x1)")
    p.add_argument("--backend", default="pallas_mosaic_gpu", choices=sorted([*api._GPU_KERNELS, "pallas_tpu"]))
    p.add_argument("--shapes", default=",".join(f"{n}x{k}" for n, k in SHAPES), help="NxK,... (out x in)")
    p.add_argument("--ms", default=",".join(map(str, MS)))
    p.add_argument("--variants", action="store_true", help="also the Mosaic GPU variants of bench_4bit --variants")
    p.add_argument("--json", help="write the rows here")
    a = p.parse_args(argv)
    if aot.is_tpu(a.target) != (a.backend == "pallas_tpu"):
        p.error(f"--backend {a.backend} does not compile for --target {a.target}")
    device = aot.tpu_spec(a.target).device_kind if aot.is_tpu(a.target) else aot.spec(a.target).description
    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    rows = run(a.target, a.backend, shapes, [int(m) for m in a.ms.split(",")], a.variants)
    if a.json:
        from shared.tracking.tracker import commit_label, hardware

        meta = {"jax": jax.__version__, "target": a.target, "tpu" if aot.is_tpu(a.target) else "gpu": device,
                "backend": a.backend, "git_commit": commit_label(), "compiled_on": hardware(),
                "date": time.strftime("%Y-%m-%d"), "command": "python -m shared.kernels.matmul_4bit.aot_check " +
                " ".join(argv if argv is not None else sys.argv[1:])}
        with open(a.json, "w") as f:
            json.dump({**meta, "rows": rows}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
