// Transposes and decoding, included twice by kernels.c: once as the baseline (SSE2) variant and once
// under `__attribute__((target("avx2,fma,f16c")))`. KFN(name) names the variant; KATTR is its
// target attribute. Operations and their order are the same in both, so results are identical.

// MARK: layout

/// One full 8 × 8 block, in registers (`TRANSPOSE8`).
KATTR static inline void KFN(transpose8x8)(const float *src, long srcStride, float *dst, long dstStride) {
    v8f r0 = load8(src), r1 = load8(src + srcStride), r2 = load8(src + 2 * srcStride), r3 = load8(src + 3 * srcStride);
    v8f r4 = load8(src + 4 * srcStride), r5 = load8(src + 5 * srcStride), r6 = load8(src + 6 * srcStride),
        r7 = load8(src + 7 * srcStride);
    v8f columns[8];
    TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7, columns);
    for (int c = 0; c < 8; c++) store8(dst + c * dstStride, columns[c]);
}

/// `dst` (`cols × rows`) = transpose of `src` (`rows × cols`), in 8 × 8 blocks so that both
/// sides touch whole cache lines (full blocks in registers, edges element by element).
KATTR static void KFN(transpose)(const float *src, long rows, long cols, float *dst) {
    for (long r0 = 0; r0 < rows; r0 += 8) {
        long r1 = r0 + 8 < rows ? r0 + 8 : rows;
        for (long c0 = 0; c0 < cols; c0 += 8) {
            long c1 = c0 + 8 < cols ? c0 + 8 : cols;
            if (r1 - r0 == 8 && c1 - c0 == 8) {
                KFN(transpose8x8)(src + r0 * cols + c0, cols, dst + c0 * rows + r0, rows);
                continue;
            }
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

// MARK: scale rounding

/// `dst[i] = (float)(half)(src[i] / divisor)`, round to nearest even: F16C in the AVX2 variant,
/// the compiler's software conversion (the one Swift's `Float16(_:)` uses) in the baseline.
KATTR static void KFN(round_f16)(const float *src, float *dst, long n, float divisor) {
    for (long i = 0; i < n; i++) dst[i] = (float)(_Float16)(src[i] / divisor);
}

/// `dst[i] = src[i] / divisor` rounded to the nearest E4M3 value, as a float: the code
/// (`E4M3_CODES8`) and back — `E4M3.float(E4M3.bits(_:))` bit for bit.
KATTR static void KFN(round_e4m3)(const float *src, float *dst, long n, float divisor) {
    long i = 0;
    for (; i + 8 <= n; i += 8) store8(dst + i, (v8f)E4M3_VALUES8(E4M3_CODES8((v8u)(load8(src + i) / (v8f)divisor))));
    for (; i < n; i++) dst[i] = e4m3_value1(e4m3_code1(src[i] / divisor));
}

/// `dst[i]` = the E4M3 code of `src[i]` — `E4M3.bits(_:)` bit for bit.
KATTR static void KFN(encode_e4m3)(const float *src, uint8_t *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8b bytes = __builtin_convertvector(E4M3_CODES8((v8u)load8(src + i)), v8b);
        memcpy(dst + i, &bytes, sizeof bytes);
    }
    for (; i < n; i++) dst[i] = e4m3_code1(src[i]);
}
