// Transposes and decoding, included twice by kernels.c: once as the baseline (SSE2) variant and once
// under `__attribute__((target("avx2,fma,f16c")))`. KFN(name) names the variant; KATTR is its
// target attribute. Operations and their order are the same in both, so results are identical.

// MARK: layout

/// `dst` (`cols × rows`) = transpose of `src` (`rows × cols`), in 8 × 8 blocks so that both
/// sides touch whole cache lines.
KATTR static void KFN(transpose)(const float *src, long rows, long cols, float *dst) {
    for (long r0 = 0; r0 < rows; r0 += 8) {
        long r1 = r0 + 8 < rows ? r0 + 8 : rows;
        for (long c0 = 0; c0 < cols; c0 += 8) {
            long c1 = c0 + 8 < cols ? c0 + 8 : cols;
            for (long c = c0; c < c1; c++)
                for (long r = r0; r < r1; r++) dst[c * rows + r] = src[r * cols + c];
        }
    }
}

// MARK: decoding

KATTR static void KFN(decode_bf16)(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8h h = load8h(src + i);
        store8(dst + i, (v8f)(__builtin_convertvector(h, v8u) << 16));
    }
    for (; i < n; i++) dst[i] = float_of((uint32_t)load_u16(src + i) << 16);
}
