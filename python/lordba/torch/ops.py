"""`torch.ops.lordba.sign_gemm`: a `.lba` module's branch on its packed signs, as a PyTorch operator.

The arithmetic is the compiled sign GEMM (`lordba._signgemm`, built from the repository's C
kernels, the SSE2 or AVX2 path chosen at run time). CPU tensors; float32 and bfloat16
activations (bfloat16 is widened to float32, accumulated in float32, rounded back).
"""

from typing import Optional

import torch

try:
    from lordba import _signgemm
except ImportError as error:  # pragma: no cover - a source tree without the built extension
    raise ImportError("lordba._signgemm is not built: pip install './python[torch]', or in python/: "
                      "python3 setup.py build_ext --inplace") from error

#: Scale storage dtypes (`scale_dtype` of the file) as tensor dtypes, and their kernel codes.
SCALE_DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16, "e4m3": torch.float8_e4m3fn}
_SCALE_CODES = {torch.float32: 0, torch.float16: 1, torch.bfloat16: 2, torch.float8_e4m3fn: 3}
ACTIVATION_DTYPES = (torch.float32, torch.bfloat16)


def cpu_path() -> str:
    """The kernel path in use, `avx2` or `sse2` (`LORDBA_CPU=sse2|avx2` forces one before import)."""
    return _signgemm.cpu_path()


def set_cpu_path(path: str) -> bool:
    """Switches the kernel path (`avx2` or `sse2`; tests and benchmarks); False when the CPU lacks it."""
    return _signgemm.set_cpu_path(path)


def _row_bytes(features: int) -> int:
    return (features + 63) // 64 * 8


def _check(x: torch.Tensor, y: torch.Tensor, sign_a: torch.Tensor, sign_b: torch.Tensor,
           scale_a: Optional[torch.Tensor], scale_b: torch.Tensor, scale_m: torch.Tensor) -> tuple[int, int, int]:
    n_in, n_out, k = x.shape[-1], y.shape[-1], sign_a.shape[0]
    if x.dtype not in ACTIVATION_DTYPES or y.dtype != x.dtype:
        raise TypeError(f"sign_gemm: activations must be float32 or bfloat16 and y of the same dtype, got {x.dtype}, {y.dtype}")
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(f"sign_gemm: x {tuple(x.shape)} and y {tuple(y.shape)} differ in their leading dimensions")
    if sign_a.dtype != torch.uint8 or sign_b.dtype != torch.uint8:
        raise TypeError("sign_gemm: sign rows must be uint8")
    if tuple(sign_a.shape) != (k, _row_bytes(n_in)) or tuple(sign_b.shape) != (k, _row_bytes(n_out)):
        raise ValueError(f"sign_gemm: sign rows {tuple(sign_a.shape)}, {tuple(sign_b.shape)} do not fit in={n_in}, "
                         f"out={n_out}, k={k}")
    if scale_b.dtype not in _SCALE_CODES or scale_b.shape != (n_out,) or scale_m.shape != (k,) \
            or scale_m.dtype != torch.float32:
        raise ValueError("sign_gemm: scale_b must hold out stored scales and scale_m k float32 values")
    if scale_a is not None and (scale_a.dtype != scale_b.dtype or scale_a.shape != (n_in,)):
        raise ValueError("sign_gemm: scale_a must hold in scales of scale_b's dtype")
    for t in (x, y, sign_a, sign_b, scale_b, scale_m) + ((scale_a,) if scale_a is not None else ()):
        if t.device.type != "cpu":
            raise ValueError(f"sign_gemm: CPU tensors only, got {t.device}")
    return n_in, n_out, k


def _add_branch(x: torch.Tensor, y: torch.Tensor, sign_a: torch.Tensor, sign_b: torch.Tensor,
                scale_a: Optional[torch.Tensor], scale_b: torch.Tensor, scale_m: torch.Tensor) -> None:
    """Adds the branch to the float32 rows of `y` (contiguous, `[T, out]`) in place."""
    n_in, n_out, k = x.shape[-1], y.shape[-1], sign_a.shape[0]
    xs = x.reshape(-1, n_in).to(torch.float32).contiguous()
    sa, sb, a, b, m = (t.contiguous() if t is not None else None for t in (sign_a, sign_b, scale_a, scale_b, scale_m))
    _signgemm.apply(xs.data_ptr(), y.data_ptr(), xs.shape[0], n_in, n_out, k, sa.data_ptr(), sb.data_ptr(),
                    a.data_ptr() if a is not None else 0, b.data_ptr(), m.data_ptr(), _SCALE_CODES[b.dtype],
                    torch.get_num_threads())


@torch.library.custom_op("lordba::sign_gemm", mutates_args=())
def sign_gemm(x: torch.Tensor, y: torch.Tensor, sign_a: torch.Tensor, sign_b: torch.Tensor,
              scale_a: Optional[torch.Tensor], scale_b: torch.Tensor, scale_m: torch.Tensor) -> torch.Tensor:
    """`y + ΔW·x` for `x` `[..., in]` and `y` `[..., out]`: `ΔW·x = b ⊙ S_Bᵀ·(m ⊙ S_A·(a ⊙ x))`.

    `sign_a` `[k, ⌈in/64⌉·8]` and `sign_b` `[k, ⌈out/64⌉·8]` are the `.lba` sign rows (bit 1 = −1);
    `scale_a` (or None), `scale_b` in the file's scale dtype (`SCALE_DTYPES`), `scale_m` float32.
    """
    _check(x, y, sign_a, sign_b, scale_a, scale_b, scale_m)
    out = y.reshape(-1, y.shape[-1]).to(torch.float32, copy=True).contiguous()
    _add_branch(x, out, sign_a, sign_b, scale_a, scale_b, scale_m)
    return out.to(y.dtype).reshape(y.shape)


@sign_gemm.register_fake
def _(x, y, sign_a, sign_b, scale_a, scale_b, scale_m):
    return torch.empty_like(y)


def add_branch_(y: torch.Tensor, x: torch.Tensor, sign_a: torch.Tensor, sign_b: torch.Tensor,
                scale_a: Optional[torch.Tensor], scale_b: torch.Tensor, scale_m: torch.Tensor) -> None:
    """`y += ΔW·x` in place: the body of `sign_gemm_add_`, callable without the dispatcher (about
    40 µs per call, twice the kernel's own time for one decode token of a 4096 × 4096 module)."""
    _check(x, y, sign_a, sign_b, scale_a, scale_b, scale_m)
    if y.dtype == torch.float32 and y.is_contiguous():
        _add_branch(x, y.view(-1, y.shape[-1]), sign_a, sign_b, scale_a, scale_b, scale_m)
    else:
        out = y.reshape(-1, y.shape[-1]).to(torch.float32, copy=True)
        _add_branch(x, out, sign_a, sign_b, scale_a, scale_b, scale_m)
        y.copy_(out.view(y.shape))


@torch.library.custom_op("lordba::sign_gemm_add_", mutates_args=("y",))
def sign_gemm_add_(y: torch.Tensor, x: torch.Tensor, sign_a: torch.Tensor, sign_b: torch.Tensor,
                   scale_a: Optional[torch.Tensor], scale_b: torch.Tensor, scale_m: torch.Tensor) -> None:
    """`y += ΔW·x` in place (`sign_gemm` without a new output: a large fresh tensor costs page faults
    comparable to the branch itself)."""
    add_branch_(y, x, sign_a, sign_b, scale_a, scale_b, scale_m)


@sign_gemm_add_.register_fake
def _(y, x, sign_a, sign_b, scale_a, scale_b, scale_m):
    return None
