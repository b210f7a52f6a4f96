"""Builds `lordba._signgemm`, the sign GEMM of the PyTorch runtime, from the repository's C kernels
(`Sources/CLoRDBAKernels`, the sources the Swift runtime compiles: one source of truth).

The kernels use clang's vector extensions, so clang builds them (`CC` overrides). pip builds in
the source tree, so `pip install ./python` finds the kernels beside this folder.
"""

from __future__ import annotations

import os
import shutil

from setuptools import Extension, setup

KERNELS = os.path.join("..", "Sources", "CLoRDBAKernels")

if "CC" not in os.environ:
    clang = shutil.which("clang")
    if clang is None:
        raise SystemExit("lordba: building the sign GEMM needs clang (set CC to a clang compiler)")
    os.environ["CC"] = clang

setup(ext_modules=[Extension(
    "lordba._signgemm",
    sources=["lordba/_signgemm.c", f"{KERNELS}/sign_kernels.c", f"{KERNELS}/kernels.c"],
    include_dirs=[f"{KERNELS}/include", KERNELS],
    depends=[os.path.join(KERNELS, name) for name in sorted(os.listdir(KERNELS)) if name.endswith(".h")],
    extra_compile_args=["-O2", "-std=gnu11", "-Wno-unknown-pragmas"],
    libraries=["m"],
)])
