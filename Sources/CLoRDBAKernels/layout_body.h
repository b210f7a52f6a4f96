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

/// `dst[i] = src[i] / divisor` rounded to the nearest E4M3 value as a float (ties to even,
/// saturating to ±448 and ∞ to ±448, subnormals in steps of 2⁻⁹, NaN to a quiet NaN): the
/// arithmetic of `E4M3.float(E4M3.bits(_:))`, bit for bit, in integer lanes.
KATTR static void KFN(round_e4m3)(const float *src, float *dst, long n, float divisor) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8u raw = (v8u)(load8(src + i) / (v8f)divisor);
        v8u magnitude = raw & 0x7FFFFFFFu;
        // ≥ 2⁻⁶: three mantissa bits, to nearest with ties to even.
        v8u normal = (magnitude + 0x7FFFFu + ((magnitude >> 20) & 1u)) & 0xFFF00000u;
        // Below: whole multiples of 2⁻⁹ (adding 2²³ rounds the scaled value to an integer, ties to even).
        v8f steps = ((v8f)magnitude * 512.0f + 8388608.0f) - 8388608.0f;
        v8u subnormal = (v8u)(steps * (1.0f / 512));
        v8u isNormal = (v8u)(magnitude >= 0x3C800000u), isLarge = (v8u)(magnitude >= 0x43E00000u);
        v8u isNaN = (v8u)(magnitude > 0x7F800000u);
        v8u value = (isNormal & normal) | (~isNormal & subnormal);
        value = ((isLarge & 0x43E00000u) | (~isLarge & value)) | (raw & 0x80000000u);
        store8(dst + i, (v8f)((isNaN & 0x7FC00000u) | (~isNaN & value)));
    }
    for (; i < n; i++) {
        uint32_t raw = bits_of(src[i] / divisor), magnitude = raw & 0x7FFFFFFFu, value;
        if (magnitude > 0x7F800000u) { dst[i] = float_of(0x7FC00000u); continue; }
        if (magnitude >= 0x43E00000u) value = 0x43E00000u;
        else if (magnitude >= 0x3C800000u) value = (magnitude + 0x7FFFFu + ((magnitude >> 20) & 1u)) & 0xFFF00000u;
        else value = bits_of(((float_of(magnitude) * 512.0f + 8388608.0f) - 8388608.0f) * (1.0f / 512));
        dst[i] = float_of(value | (raw & 0x80000000u));
    }
}

/// `dst[i]` = the E4M3 code of `src[i]`: nearest value, ties to the even code, saturating to
/// ±448 (∞ too), NaN to 0x7F — `E4M3.bits(_:)` bit for bit, in integer lanes.
KATTR static void KFN(encode_e4m3)(const float *src, uint8_t *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8u raw = (v8u)load8(src + i);
        v8u magnitude = raw & 0x7FFFFFFFu, sign = (raw >> 24) & 0x80u;
        v8u normal = ((magnitude + 0x7FFFFu + ((magnitude >> 20) & 1u)) >> 20) - (120u << 3);
        v8f steps = ((v8f)magnitude * 512.0f + 8388608.0f) - 8388608.0f;
        v8u subnormal = __builtin_convertvector(steps, v8u);
        v8u isNormal = (v8u)(magnitude >= 0x3C800000u), isLarge = (v8u)(magnitude >= 0x43E00000u);
        v8u isNaN = (v8u)(magnitude > 0x7F800000u);
        v8u code = (isNormal & normal) | (~isNormal & subnormal);
        code = ((isLarge & 0x7Eu) | (~isLarge & code)) | sign;
        code = (isNaN & 0x7Fu) | (~isNaN & code);
        v8b bytes = __builtin_convertvector(code & 0xFFu, v8b);
        memcpy(dst + i, &bytes, sizeof bytes);
    }
    for (; i < n; i++) {
        uint32_t raw = bits_of(src[i]), magnitude = raw & 0x7FFFFFFFu, sign = (raw >> 24) & 0x80u, code;
        if (magnitude > 0x7F800000u) code = 0x7Fu;
        else if (magnitude >= 0x43E00000u) code = sign | 0x7Eu;
        else if (magnitude >= 0x3C800000u) code = sign | ((((magnitude + 0x7FFFFu + ((magnitude >> 20) & 1u)) >> 20) - (120u << 3)) & 0xFFu);
        else code = sign | (uint32_t)((float_of(magnitude) * 512.0f + 8388608.0f) - 8388608.0f);
        dst[i] = (uint8_t)code;
    }
}
