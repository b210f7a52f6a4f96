"""Builds `lordba._signgemm`, the sign GEMM of the PyTorch runtime, from the repository's C kernels
(`Sources/CLoRDBAKernels`, the sources the Swift runtime compiles: one source of truth).

The kernels use clang's vector extensions, so clang builds them (`CC` overrides; the Swift
toolchain has one). Without clang the package installs without the extension: the reader, the
writer and the ±1 float branches work, and `attach(..., packed=True)` says what is missing. pip
builds in the source tree, so `pip install ./python` finds the kernels beside this folder.
"""

from __future__ import annotations

import os
import shutil

from setuptools import Extension, setup

KERNELS = os.path.join("..", "Sources", "CLoRDBAKernels")



def sign_gemm() -> list[Extension]:
    """The extension, or none when clang or the kernel sources are missing (with a note why)."""
    if "CC" not in os.environ and shutil.which("clang"):
        os.environ["CC"] = shutil.which("clang")
    if "clang" not in os.path.basename(os.environ.get("CC", "")):
        print("lordba: no clang (set CC to a clang compiler): the sign GEMM extension is not built")
        return []
    if not os.path.isdir(KERNELS):
        print(f"lordba: {KERNELS} not found (build from the repository): the sign GEMM extension is not built")
        return []
    return [Extension(
        "lordba._signgemm",
        sources=["lordba/_signgemm.c", f"{KERNELS}/sign_kernels.c", f"{KERNELS}/kernels.c"],
        include_dirs=[f"{KERNELS}/include", KERNELS],
        depends=[os.path.join(KERNELS, name) for name in sorted(os.listdir(KERNELS)) if name.endswith(".h")],
        extra_compile_args=["-O2", "-std=gnu11", "-Wno-unknown-pragmas"],
        libraries=["m"],
    )]


setup(ext_modules=sign_gemm())
