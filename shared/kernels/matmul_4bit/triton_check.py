"""Static check of the GPU kernels without a GPU: lower them to Triton IR on CPU, then compile that IR for sm_90.

    python -m shared.kernels.matmul_4bit.triton_check [--triton_python /path/to/python-with-triton] [--out DIR]

Step 1 (always): each planned forward / dX kernel for the LLaMA shapes (bfloat16 with double-quantized
statistics, float32 without) is lowered by Pallas for "cuda" from a
CPU-only jaxlib (an abstract H100 stands in for the device) and its Triton IR (TTIR) is captured; failing here
means a primitive without a Triton lowering.
Step 2 (with --triton_python, an interpreter that has the `triton` pip package, e.g. a throwaway venv with
`pip install triton`): the TTIR goes through Triton's own pipeline (TTIR passes, TTGIR, LLVM, PTX, cubin for
sm_90 with the bundled ptxas), and the report gives registers, spilled bytes, shared memory, tensor-core
instructions (HGMMA = wgmma) and the static SASS instruction count. That pipeline is pip
Triton's, close to but not the same as the one XLA runs, and nothing is executed: it checks compilability and
register/shared-memory budgets, not speed or results. Uses two private JAX hooks (the Triton lowering entry
point), so it is a development tool, not part of the API.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp

from shared.kernels.matmul_4bit import api, pallas_gpu

SHAPES = ((4096, 4096), (11008, 4096), (8192, 8192), (22016, 8192))
MS = (1, 16, 64, 256, 512, 1024, 4096)
SMEM_LIMIT = 232448  # bytes of shared memory one block may use on sm_90 (227 KiB)

_COMPILE = r'''
import collections, json, os, re, subprocess, sys
os.environ["TRITON_ALWAYS_COMPILE"] = "1"
import triton
from triton.backends.compiler import GPUTarget
from triton.backends.nvidia.compiler import CUDABackend
_add = CUDABackend.add_stages
def add_stages(self, stages, options, language=None):  # IR sources skip make_ttir: run it before make_ttgir
    _add(self, stages, options, language)
    ttir, ttgir = stages["ttir"], stages["ttgir"]
    stages["ttgir"] = lambda src, md: ttgir(ttir(src, md), md)
CUDABackend.add_stages = add_stages
bindir = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin")
for job in json.loads(sys.stdin.read()):
    try:
        k = triton.compile(job["path"], target=GPUTarget("cuda", 90, 32),
                           options=dict(num_warps=job["num_warps"], num_stages=job["num_stages"]))
        ptx = job["path"] + ".ptx"
        open(ptx, "w").write(k.asm["ptx"])
        r = subprocess.run([bindir + "/ptxas", "-v", "--gpu-name", "sm_90a", ptx, "-o", ptx + ".cubin"],
                           capture_output=True, text=True)
        sass = subprocess.run([bindir + "/cuobjdump", "-sass", ptx + ".cubin"], capture_output=True, text=True).stdout
        ops = re.findall(r"/\*[0-9a-f]{4,6}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)", sass)
        # wgmma's A operand from registers ("HGMMA... R_acc, R_a, gdesc[...]") or from shared memory (two gdescs)
        reg_a = len(re.findall(r"HGMMA\.\S+\s+R\d+,\s*R\d+,\s*gdesc", sass))
        mix = collections.Counter(o.split(".")[0] for o in ops)
        regs = re.search(r"Used (\d+) registers", r.stderr)
        spill = re.search(r"(\d+) bytes spill stores", r.stderr)
        print(json.dumps(dict(name=job["name"], ok=True, regs=int(regs.group(1)) if regs else None,
                              spill_bytes=int(spill.group(1)) if spill else None, smem=k.metadata.shared,
                              sass=len(ops), mma=mix["HGMMA"] + mix["HMMA"], wgmma=mix["HGMMA"] > 0,
                              hgmma_reg_a=reg_a, sts=mix["STS"], lds=mix["LDS"] + mix["LDSM"],
                              top=mix.most_common(6))), flush=True)
    except Exception as e:
        print(json.dumps(dict(name=job["name"], ok=False, error=f"{type(e).__name__}: {str(e)[:800]}")), flush=True)
'''


@contextlib.contextmanager
def capture_ttir():
    """Collect the text of every Triton module Pallas lowers inside the block."""
    from jax._src.pallas.triton import lowering, pallas_call_registration

    modules: list[str] = []
    original = lowering.lower_jaxpr_to_triton_module

    def hook(*args, **kwargs):
        result = original(*args, **kwargs)
        modules.append(result.module.operation.get_asm(enable_debug_info=False))
        return result

    pallas_call_registration.lowering.lower_jaxpr_to_triton_module = hook
    try:
        yield modules
    finally:
        pallas_call_registration.lowering.lower_jaxpr_to_triton_module = original


def lower_one(out_dir: str, name: str, cfg: pallas_gpu.GpuConfig, kind: str, m: int, n: int, k: int, dtype,
              block_size: int = 64) -> dict:
    """Lower one kernel ("fwd" or "dx") with an explicit config; write its TTIR; return the compile job."""
    sds = jax.ShapeDtypeStruct
    nbs = 256 if dtype == jnp.bfloat16 else None  # bf16 runs: double-quantized statistics decoded in the kernel
    if kind == "fwd":
        fn = lambda x, *w: pallas_gpu.forward(  # noqa: E731
            x, *w, cfg=cfg, qtype="nf4", block_size=block_size, nested_block_size=nbs)
        args = (sds((m, k), dtype),)
    else:
        fn = lambda d, *w: pallas_gpu.backward(  # noqa: E731
            d, *w, cfg=cfg, qtype="nf4", block_size=block_size, nested_block_size=nbs)
        args = (sds((m, n), dtype),)
    args += (sds((n, k // 2), jnp.uint8),)
    if nbs:
        args += (sds((n, k // block_size), jnp.uint8), sds((n * k // block_size // 256,), jnp.float32),
                 sds((), jnp.float32))
    else:
        args += (sds((n, k // block_size), jnp.float32),)
    with capture_ttir() as mods, api.lowering_for("cuda"):
        jax.jit(fn).trace(*args).lower(lowering_platforms=("cuda",))
    path = os.path.join(out_dir, name + ".ttir")
    with open(path, "w") as f:
        f.write(mods[-1])
    return dict(name=name, path=path, num_warps=cfg.num_warps, num_stages=cfg.num_stages, config=cfg.describe())


def lower_all(out_dir: str, shapes=SHAPES, ms=MS, dtypes=(jnp.bfloat16, jnp.float32), block_size=64) -> list[dict]:
    """Lower the planned kernels for every (shape, M, dtype); write the TTIR files; return the jobs."""
    jobs = []
    for (n, k) in shapes:
        for m in ms:
            for dtype in dtypes:
                for kind in ("fwd", "dx"):
                    plan = pallas_gpu.plan_forward if kind == "fwd" else pallas_gpu.plan_backward
                    cfg = plan(m, n, k, block_size, dtype)
                    name = f"{kind}_{n}x{k}_m{m}_{jnp.dtype(dtype).name}{'_dq' if dtype == jnp.bfloat16 else ''}"
                    jobs.append(lower_one(out_dir, name, cfg, kind, m, n, k, dtype, block_size))
    return jobs


def lower_candidates(out_dir: str, shapes=SHAPES[:1], ms=(4096,), block_size=64) -> list[dict]:
    """Lower every tuning candidate (`pallas_gpu.candidates`) of the given bfloat16 problems."""
    jobs = []
    for (n, k) in shapes:
        for m in ms:
            for kind in ("fwd", "dx"):
                for i, cfg in enumerate(pallas_gpu.candidates(m, n, k, block_size, jnp.bfloat16, kind == "fwd")):
                    jobs.append(lower_one(out_dir, f"{kind}_{n}x{k}_m{m}_c{i}", cfg, kind, m, n, k, jnp.bfloat16,
                                          block_size))
    return jobs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--triton_python", default=None, help="python with the triton package, for step 2")
    p.add_argument("--out", default=None, help="directory for the .ttir/.ptx files (default: a temp dir)")
    p.add_argument("--candidates", default=None, metavar="NxK:M[,...]",
                   help="lower the bfloat16 tuning candidates of these problems instead of the planned kernels")
    a = p.parse_args(argv)
    out = a.out or tempfile.mkdtemp(prefix="matmul_4bit_ttir_")
    os.makedirs(out, exist_ok=True)
    if a.candidates:
        jobs = []
        for item in a.candidates.split(","):
            shape, m = item.split(":")
            n, k = (int(v) for v in shape.lower().split("x"))
            jobs += lower_candidates(out, ((n, k),), (int(m),))
    else:
        jobs = lower_all(out)
    print(f"lowered {len(jobs)} kernels to Triton IR in {out}")
    if not a.triton_python:
        return 0
    r = subprocess.run([a.triton_python, "-c", _COMPILE], input=json.dumps(jobs), capture_output=True, text=True)
    by_name = {j["name"]: j for j in jobs}
    failures = 0
    for line in r.stdout.splitlines():
        res = json.loads(line)
        job = by_name[res["name"]]
        if not res["ok"]:
            failures += 1
            print(f"FAIL {res['name']}: {res['error']}")
            continue
        smem_ok = res["smem"] <= SMEM_LIMIT
        failures += not smem_ok
        print(f"{'ok' if smem_ok else 'SMEM'} {res['name']:32s} regs {res['regs']:3d} spill {res['spill_bytes']:5d} "
              f"smem {res['smem']:6d} "
              f"{'wgmma' if res['wgmma'] else 'mma  ' if res['mma'] else 'fma  '} sass {res['sass']:5d} "
              f"sts {res['sts']:3d} lds {res['lds']:3d} regA {res['hgmma_reg_a']:3d} "
              f"| {job['config']}")
    if r.returncode:
        print(r.stderr[-3000:])
    return 1 if failures or r.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
