"""Byte-permute codebook lookup for the GPU kernel (`GpuConfig.lookup = "prmt"`): packed uint8 codes -> bfloat16.

The select tree (`common.select_lookup`) costs ~10 FSEL per weight element on sm_90 (plus a float32 -> bfloat16
conversion): at decode sizes that alone bounds the kernel near the bf16 dot's time. PTX's `prmt` (byte permute)
picks any 4 of 8 source bytes by 3-bit indices, so the 16-entry codebook, rounded to bfloat16, fits in 8 registers
of table bytes: L0..L3 hold the low bytes of the 16 bf16 values (entries 0-7 in L0:L1, 8-15 in L2:L3), H0..H3 the
high bytes. For one output register (two bf16 values, of the codes n0 and n1 of two input bytes):

    s    = (n0&7) | (n0&7)<<4 | (n1&7)<<8 | (n1&7)<<12        selector: each code's index in its half-table, twice
    lo_a = prmt(L0, L1, s);  lo_b = prmt(L2, L3, s)            low bytes if the code is < 8 / >= 8
    hi_a = prmt(H0, H1, s);  hi_b = prmt(H2, H3, s)            high bytes likewise
    m    = prmt(bit-3 carrier, 0, 0x9988)                       0xFFFF per half whose code is >= 8 (sign mode)
    lo   = m ? lo_b : lo_a;  hi = m ? hi_b : hi_a               (lop3)
    out  = prmt(lo, hi, 0x7250)                                 [lo.b0, hi.b1, lo.b2, hi.b3] = two bf16 values

about 5 instructions per weight element instead of ~11, and the values come out in bfloat16: no conversion. The
asm block is elementwise (each output value depends on its own input byte only), as Triton's inline asm requires:
one instance takes 4 bytes packed in a 32-bit register and returns 4 bf16 values in two; one block for the high
nibbles, one for the low ones.

The program is data (`program`), rendered to PTX for the device (`ptx`) and run by `emulate` with jnp uint32
arithmetic, which is what interpret mode executes and what the tests check exhaustively against the codebook: the
PTX text and the emulation come from the same list of operations. Only exact where the kernel multiplies by the
absmax after the dot ("dot" scaling) and computes in bfloat16: the values are bf16(codebook), as in the select
path's `.astype(bfloat16)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shared.kernels.matmul_4bit import common

# (dst, op, *operands): operands are register names (str) or int immediates; "w" is the input (4 code bytes),
# "o0"/"o1" the outputs (bf16 pairs of bytes 0-1 / 2-3). Ops: shr, shl, and, mul (low 32 bits), prmt (PTX
# default mode), sel (lop3 0xD8: c ? b : a, bitwise).


def program(nibble: str) -> list[tuple]:
    """The instruction list for the high ("hi": bits 4-7 of each byte) or low ("lo": bits 0-3) codes."""
    if nibble == "hi":
        ops = [("t", "shr", "w", 4), ("bit3", "mov", "w")]      # code k at bits 8k..8k+3; its bit 3 = byte k's bit 7
    elif nibble == "lo":
        ops = [("t", "mov", "w"), ("bit3", "shl", "w", 4)]      # code k at bits 8k..; bit 3 moved to byte k's bit 7
    else:
        raise ValueError(f"nibble must be 'hi' or 'lo', got {nibble!r}")
    ops += [("u", "and", "t", 0x07070707), ("s0", "mul", "u", 17), ("s1", "shr", "s0", 16)]
    for out, s, sign_sel in (("o0", "s0", 0x9988), ("o1", "s1", 0xBBAA)):
        ops += [
            ("la", "prmt", "L0", "L1", s), ("lb", "prmt", "L2", "L3", s),
            ("ha", "prmt", "H0", "H1", s), ("hb", "prmt", "H2", "H3", s),
            ("m", "prmt", "bit3", 0, sign_sel),
            ("lo", "sel", "la", "lb", "m"), ("hi", "sel", "ha", "hb", "m"),
            (out, "prmt", "lo", "hi", 0x7250),
        ]
    return ops


def tables(qtype: str) -> dict[str, int]:
    """L0..L3, H0..H3: the low and high bytes of the 16 bfloat16-rounded codebook values, 4 entries a register."""
    bits = np.asarray(np.asarray(common.codebook_values(qtype), np.float32).astype(jnp.bfloat16).view(np.uint16),
                      np.uint32)
    lo, hi = bits & 0xFF, bits >> 8
    regs = {}
    for r in range(4):
        regs[f"L{r}"] = int(sum(int(lo[4 * r + i]) << (8 * i) for i in range(4)))
        regs[f"H{r}"] = int(sum(int(hi[4 * r + i]) << (8 * i) for i in range(4)))
    return regs


def ptx(nibble: str, qtype: str) -> str:
    """The PTX of one asm instance: $0, $1 = outputs (bf16 pairs), $2 = the input (4 code bytes)."""
    names = {"o0": "$0", "o1": "$1", "w": "$2"}
    temps = sorted({op[0] for op in program(nibble)} - set(names)) + sorted(tables(qtype))
    reg = lambda v: names.get(v, f"%q_{v}") if isinstance(v, str) else f"{v:#x}"  # noqa: E731
    lines = ["{", ".reg .b32 " + ", ".join(f"%q_{t}" for t in temps) + ";"]
    lines += [f"mov.b32 %q_{name}, {value:#x};" for name, value in sorted(tables(qtype).items())]
    for dst, op, *args in program(nibble):
        a = [reg(x) for x in args]
        if op == "prmt":
            lines.append(f"prmt.b32 {reg(dst)}, {a[0]}, {a[1]}, {a[2]};")
        elif op == "sel":
            lines.append(f"lop3.b32 {reg(dst)}, {a[0]}, {a[1]}, {a[2]}, 0xD8;")
        elif op == "mul":
            lines.append(f"mul.lo.u32 {reg(dst)}, {a[0]}, {a[1]};")
        elif op == "mov":
            lines.append(f"mov.b32 {reg(dst)}, {a[0]};")
        else:
            lines.append(f"{op}.b32 {reg(dst)}, {a[0]}, {a[1]};")
    return "\n".join(lines + ["}"])


def _prmt(a, b, sel):
    """PTX prmt.b32 (default mode) on uint32 arrays: byte i of the result is byte (sel >> 4i) & 7 of {b, a}, or
    that byte's sign bit replicated when bit 3 of the selector nibble is set."""
    out = jnp.zeros(jnp.broadcast_shapes(jnp.shape(a), jnp.shape(b), jnp.shape(sel)), jnp.uint32)
    for i in range(4):
        nib = (sel >> (4 * i)) & 15
        idx = nib & 7
        src = jnp.where(idx < 4, a, b)
        byte = (src >> (8 * (idx & 3))) & 0xFF
        byte = jnp.where((nib & 8) != 0, jnp.where((byte & 0x80) != 0, 0xFF, 0), byte)
        out = out | (byte.astype(jnp.uint32) << (8 * i))
    return out


def emulate(nibble: str, qtype: str, w: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Run `program` on uint32 words w (4 code bytes each) with jnp: the two outputs as uint32 (bf16 pairs)."""
    regs = {k: jnp.uint32(v) for k, v in tables(qtype).items()}
    regs["w"] = w.astype(jnp.uint32)
    val = lambda v: regs[v] if isinstance(v, str) else jnp.uint32(v)  # noqa: E731
    for dst, op, *args in program(nibble):
        a = [val(x) for x in args]
        if op == "prmt":
            regs[dst] = _prmt(*a)
        elif op == "sel":
            regs[dst] = (a[0] & ~a[2]) | (a[1] & a[2])
        elif op == "mul":
            regs[dst] = a[0] * a[1]
        elif op == "mov":
            regs[dst] = a[0]
        elif op == "shr":
            regs[dst] = a[0] >> a[1]
        elif op == "shl":
            regs[dst] = a[0] << a[1]
        elif op == "and":
            regs[dst] = a[0] & a[1]
        else:
            raise ValueError(f"unknown op {op!r}")
    return regs["o0"], regs["o1"]


def lookup_emulated(codes_u8: jax.Array, nibble: str, qtype: str) -> jax.Array:
    """bf16 codebook values of the high or low codes of a uint8 tile [r, c] (c a multiple of 4), by `emulate`:
    bytes grouped by 4 into words as the asm block receives them."""
    r, c = codes_u8.shape
    b = codes_u8.reshape(r, c // 4, 4).astype(jnp.uint32)
    w = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16) | (b[..., 3] << 24)
    o0, o1 = emulate(nibble, qtype, w)
    halves = jnp.stack([o0 & 0xFFFF, o0 >> 16, o1 & 0xFFFF, o1 >> 16], axis=-1).astype(jnp.uint16)
    return jax.lax.bitcast_convert_type(halves, jnp.bfloat16).reshape(r, c)


def lookup_asm(codes_u8: jax.Array, nibble: str, qtype: str) -> jax.Array:
    """The same inside a Triton kernel: one inline-asm block (4 code bytes in, 4 bf16 values out)."""
    from jax.experimental.pallas import triton as plgpu

    (out,) = plgpu.elementwise_inline_asm(
        ptx(nibble, qtype), args=[codes_u8], constraints="=r,=r,r", pack=4,
        result_shape_dtypes=[jax.ShapeDtypeStruct(codes_u8.shape, jnp.bfloat16)])
    return out
