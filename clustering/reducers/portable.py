"""One CPU target for numba, so that a seeded UMAP gives the same embedding on every x86-64
machine. numba compiles umap-learn's kernels (some with fastmath) for the CPU it runs on, and
the compiled arithmetic differs between instruction sets: the same seed on the same digits gave
raw x umap x gmm an ASC of 0.8392 compiled for AMD Zen 3 (AVX2) and 0.8405 for Zen 5 (AVX-512).
Thread counts do not matter (a seeded umap-learn optimises on one thread; NUMBA_NUM_THREADS and
the BLAS threads 1 or 2 give identical embeddings)."""

PORTABLE_CPU = "generic"  # LLVM's baseline x86-64 (SSE2): runs, and computes alike, everywhere


def compile_for_any_cpu() -> None:
    """Make numba compile for PORTABLE_CPU unless NUMBA_CPU_NAME chose a target. Takes effect
    when called before numba's first compilation in the process (before `import umap`); later
    calls change nothing (numba keeps the target it started with)."""
    import numba

    if numba.config.CPU_NAME is None:
        numba.config.CPU_NAME = PORTABLE_CPU
        numba.config.CPU_FEATURES = ""
