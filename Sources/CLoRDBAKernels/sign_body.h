// The sign-GEMM kernels (see Sources/LoRDBA/Runtime/SignKernel.swift for the design), included
// twice by sign_kernels.c like the other kernel bodies: the same operations in the same order on both
// paths, so the validator's sums do not depend on the CPU.

KATTR static inline void KFN(down4x2)(const float *x, long stride, const uint8_t *s0, const uint8_t *s1,
                                      long chunks, float *out) {
    v8f a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
    const float *q = x;
    for (long c = 0; c < chunks; c++) {
        v8u m0 = sign_lut[s0[c]], m1 = sign_lut[s1[c]];
        v8u x0 = load8u(q), x1 = load8u(q + stride), x2 = load8u(q + 2 * stride), x3 = load8u(q + 3 * stride);
        a00 += FLIP(x0, m0); a01 += FLIP(x0, m1);
        a10 += FLIP(x1, m0); a11 += FLIP(x1, m1);
        a20 += FLIP(x2, m0); a21 += FLIP(x2, m1);
        a30 += FLIP(x3, m0); a31 += FLIP(x3, m1);
        q += 8;
    }
    out[0] = HSUM8(a00); out[1] = HSUM8(a01); out[2] = HSUM8(a10); out[3] = HSUM8(a11);
    out[4] = HSUM8(a20); out[5] = HSUM8(a21); out[6] = HSUM8(a30); out[7] = HSUM8(a31);
}

KATTR static inline void KFN(down4x1)(const float *x, long stride, const uint8_t *s0, long chunks, float *out) {
    v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const float *q = x;
    for (long c = 0; c < chunks; c++) {
        v8u m0 = sign_lut[s0[c]];
        a0 += FLIP(load8u(q), m0);
        a1 += FLIP(load8u(q + stride), m0);
        a2 += FLIP(load8u(q + 2 * stride), m0);
        a3 += FLIP(load8u(q + 3 * stride), m0);
        q += 8;
    }
    out[0] = HSUM8(a0); out[1] = HSUM8(a1); out[2] = HSUM8(a2); out[3] = HSUM8(a3);
}

KATTR static inline void KFN(down1x4)(const float *x, const uint8_t *s, long rowStride, long chunks, float *out) {
    v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const uint8_t *s1 = s + rowStride, *s2 = s + 2 * rowStride, *s3 = s + 3 * rowStride;
    const float *q = x;
    for (long c = 0; c < chunks; c++) {
        v8u v = load8u(q);
        a0 += FLIP(v, sign_lut[s[c]]);
        a1 += FLIP(v, sign_lut[s1[c]]);
        a2 += FLIP(v, sign_lut[s2[c]]);
        a3 += FLIP(v, sign_lut[s3[c]]);
        q += 8;
    }
    out[0] = HSUM8(a0); out[1] = HSUM8(a1); out[2] = HSUM8(a2); out[3] = HSUM8(a3);
}

KATTR static inline void KFN(down1x2)(const float *x, const uint8_t *s, long rowStride, long chunks, float *out) {
    v8f a0 = 0, a1 = 0;
    const uint8_t *s1 = s + rowStride;
    const float *q = x;
    for (long c = 0; c < chunks; c++) {
        v8u v = load8u(q);
        a0 += FLIP(v, sign_lut[s[c]]);
        a1 += FLIP(v, sign_lut[s1[c]]);
        q += 8;
    }
    out[0] = HSUM8(a0); out[1] = HSUM8(a1);
}

KATTR static inline float KFN(down1x1)(const float *x, const uint8_t *s, long chunks) {
    v8f a0 = 0;
    const float *q = x;
    for (long c = 0; c < chunks; c++) { a0 += FLIP(load8u(q), sign_lut[s[c]]); q += 8; }
    return HSUM8(a0);
}

/// Adds the sums over `chunks` chunks from chunk `first` (x already offset) to z.
KATTR static void KFN(down_accumulate)(const float *sx, long ss, long first, long chunks, long tokens,
                                       const uint8_t *signA, long rowBytes, long j0, long j1,
                                       float *z, long zStride, int wide) {
    float sums[8];
    if (tokens == 4) {
        long j = j0;
        while (wide && j + 2 <= j1) {
            const uint8_t *s0 = signA + j * rowBytes + first;
            KFN(down4x2)(sx, ss, s0, s0 + rowBytes, chunks, sums);
            for (int t = 0; t < 4; t++) {
                z[t * zStride + j] += sums[2 * t];
                z[t * zStride + j + 1] += sums[2 * t + 1];
            }
            j += 2;
        }
        while (j < j1) {
            KFN(down4x1)(sx, ss, signA + j * rowBytes + first, chunks, sums);
            for (int t = 0; t < 4; t++) z[t * zStride + j] += sums[t];
            j += 1;
        }
    } else {
        for (long t = 0; t < tokens; t++) {
            const float *row = sx + t * ss;
            long j = j0;
            while (wide && j + 4 <= j1) {
                KFN(down1x4)(row, signA + j * rowBytes + first, rowBytes, chunks, sums);
                for (int c = 0; c < 4; c++) z[t * zStride + j + c] += sums[c];
                j += 4;
            }
            while (!wide && j + 2 <= j1) {
                KFN(down1x2)(row, signA + j * rowBytes + first, rowBytes, chunks, sums);
                z[t * zStride + j] += sums[0];
                z[t * zStride + j + 1] += sums[1];
                j += 2;
            }
            while (j < j1) {
                z[t * zStride + j] += KFN(down1x1)(row, signA + j * rowBytes + first, chunks);
                j += 1;
            }
        }
    }
}

KATTR static void KFN(sign_down)(const float *x, long stride, long tokens, long inFeatures, const uint8_t *signA,
                                 long rowBytes, long j0, long j1, const float *middle, float *z, long zStride,
                                 float *tail, long tileChunks, int wide) {
    long fullChunks = inFeatures / 8;
    long remainder = inFeatures - fullChunks * 8;
    for (long t = 0; t < tokens; t++)
        for (long j = j0; j < j1; j++) z[t * zStride + j] = 0;
    long start = 0;
    while (start < fullChunks) {
        long chunks = tileChunks < fullChunks - start ? tileChunks : fullChunks - start;
        KFN(down_accumulate)(x + start * 8, stride, start, chunks, tokens, signA, rowBytes, j0, j1, z, zStride, wide);
        start += chunks;
    }
    if (remainder > 0) {
        for (long t = 0; t < tokens; t++) {
            const float *src = x + t * stride + fullChunks * 8;
            for (long c = 0; c < 8; c++) tail[t * 8 + c] = c < remainder ? src[c] : 0;
        }
        KFN(down_accumulate)(tail, 8, fullChunks, 1, tokens, signA, rowBytes, j0, j1, z, zStride, wide);
    }
    for (long t = 0; t < tokens; t++)
        for (long j = j0; j < j1; j++) z[t * zStride + j] *= middle[j];
}

// MARK: step 1 by tables (blocks of 8 tokens)

/// The 16 signed sums of 4 input vectors: `table[e] = Σ_b (bit b of e ? −v_b : +v_b)`, as two
/// pair tables (bits 0–1 and 2–3) added.
KATTR static inline void KFN(nibble_table)(const v8f *v, float *table) {
    v8f v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3];
    v8f p0 = v0 + v1, p1 = v1 - v0, p2 = v0 - v1, p3 = -p0;
    v8f q0 = v2 + v3, q1 = v3 - v2, q2 = v2 - v3, q3 = -q0;
    store8(table + 0 * 8, p0 + q0); store8(table + 1 * 8, p1 + q0);
    store8(table + 2 * 8, p2 + q0); store8(table + 3 * 8, p3 + q0);
    store8(table + 4 * 8, p0 + q1); store8(table + 5 * 8, p1 + q1);
    store8(table + 6 * 8, p2 + q1); store8(table + 7 * 8, p3 + q1);
    store8(table + 8 * 8, p0 + q2); store8(table + 9 * 8, p1 + q2);
    store8(table + 10 * 8, p2 + q2); store8(table + 11 * 8, p3 + q2);
    store8(table + 12 * 8, p0 + q3); store8(table + 13 * 8, p1 + q3);
    store8(table + 14 * 8, p2 + q3); store8(table + 15 * 8, p3 + q3);
}

/// Step 1 for a block of 8 rows of `x` (`stride` apart; times `inputScale` when given) by 4-bit tables:
/// for every 4 inputs, the 16 signed sums `±x_0 ± x_1 ± x_2 ± x_3` as vectors over the 8 tokens
/// (an 8 × 8 transpose per 8 inputs, then 2 × 16 entries); a sign channel then costs one table
/// load and one add per 4 inputs instead of a mask, an XOR and an add per input and token.
/// Writes `zT[8j + t] = middle[j]·Σ_i S_A[j, i]·a[i]·x[t, i]` (`a` = `inputScale`, or 1). Inputs are taken in tiles of
/// `tileChunks` × 8 (`tables` holds 32 · tileChunks vectors, L1-sized); `tail` is scratch for
/// 64 floats (a last partial chunk is copied there, zero-padded).
KATTR static void KFN(down_table8)(const float *x, long stride, long inFeatures, const float *inputScale,
                                   const uint8_t *signA, long rowBytes, long k, const float *middle, float *zT,
                                   float *tables, float *tail, long tileChunks) {
    long chunks = (inFeatures + 7) / 8;
    long fullChunks = inFeatures / 8;
    for (long j = 0; j < k; j++) store8(zT + j * 8, (v8f)0);
    for (long start = 0; start < chunks; start += tileChunks) {
        long n = tileChunks < chunks - start ? tileChunks : chunks - start;
        for (long c = 0; c < n; c++) {
            long chunk = start + c;
            const float *src = x + chunk * 8;
            long rowStride = stride;
            v8f a = 1.0f;
            if (chunk >= fullChunks) {
                // The last partial chunk, zero-padded (and its scales, so no lane reads past the end).
                long remainder = inFeatures - chunk * 8;
                for (long t = 0; t < 8; t++)
                    for (long i = 0; i < 8; i++) tail[t * 8 + i] = i < remainder ? x[t * stride + chunk * 8 + i] : 0;
                for (long i = 0; inputScale && i < 8; i++) a[i] = i < remainder ? inputScale[chunk * 8 + i] : 0;
                src = tail;
                rowStride = 8;
            } else if (inputScale) {
                a = load8(inputScale + chunk * 8);
            }
            v8f r0 = load8(src), r1 = load8(src + rowStride), r2 = load8(src + 2 * rowStride);
            v8f r3 = load8(src + 3 * rowStride), r4 = load8(src + 4 * rowStride), r5 = load8(src + 5 * rowStride);
            v8f r6 = load8(src + 6 * rowStride), r7 = load8(src + 7 * rowStride);
            if (inputScale) {
                // a ⊙ x as it is loaded (the same products a pre-pass over the rows would make).
                r0 *= a; r1 *= a; r2 *= a; r3 *= a; r4 *= a; r5 *= a; r6 *= a; r7 *= a;
            }
            // Input 8·chunk + i over the 8 tokens, i = 0…7.
            v8f v[8];
            TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7, v);
            KFN(nibble_table)(v, tables + c * 256);
            KFN(nibble_table)(v + 4, tables + c * 256 + 128);
        }
        long j = 0;
        // Four channels at once: eight independent addition chains (each channel's sums are
        // the same, in the same order, as one or two at a time).
        for (; j + 4 <= k; j += 4) {
            const uint8_t *s0 = signA + j * rowBytes + start, *s1 = s0 + rowBytes, *s2 = s1 + rowBytes, *s3 = s2 + rowBytes;
            v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
            const float *t = tables;
            for (long c = 0; c < n; c++) {
                unsigned e0 = s0[c], e1 = s1[c], e2 = s2[c], e3 = s3[c];
                a0 += load8(t + (e0 & 15) * 8); a1 += load8(t + 128 + (e0 >> 4) * 8);
                a2 += load8(t + (e1 & 15) * 8); a3 += load8(t + 128 + (e1 >> 4) * 8);
                a4 += load8(t + (e2 & 15) * 8); a5 += load8(t + 128 + (e2 >> 4) * 8);
                a6 += load8(t + (e3 & 15) * 8); a7 += load8(t + 128 + (e3 >> 4) * 8);
                t += 256;
            }
            store8(zT + j * 8, load8(zT + j * 8) + (a0 + a1));
            store8(zT + (j + 1) * 8, load8(zT + (j + 1) * 8) + (a2 + a3));
            store8(zT + (j + 2) * 8, load8(zT + (j + 2) * 8) + (a4 + a5));
            store8(zT + (j + 3) * 8, load8(zT + (j + 3) * 8) + (a6 + a7));
        }
        for (; j + 2 <= k; j += 2) {
            const uint8_t *s0 = signA + j * rowBytes + start, *s1 = s0 + rowBytes;
            v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            const float *t = tables;
            for (long c = 0; c < n; c++) {
                unsigned e0 = s0[c], e1 = s1[c];
                a0 += load8(t + (e0 & 15) * 8); a1 += load8(t + 128 + (e0 >> 4) * 8);
                a2 += load8(t + (e1 & 15) * 8); a3 += load8(t + 128 + (e1 >> 4) * 8);
                t += 256;
            }
            store8(zT + j * 8, load8(zT + j * 8) + (a0 + a1));
            store8(zT + (j + 1) * 8, load8(zT + (j + 1) * 8) + (a2 + a3));
        }
        for (; j < k; j++) {
            const uint8_t *s0 = signA + j * rowBytes + start;
            v8f a0 = 0, a1 = 0;
            const float *t = tables;
            for (long c = 0; c < n; c++) {
                unsigned e0 = s0[c];
                a0 += load8(t + (e0 & 15) * 8); a1 += load8(t + 128 + (e0 >> 4) * 8);
                t += 256;
            }
            store8(zT + j * 8, load8(zT + j * 8) + (a0 + a1));
        }
    }
    for (long j = 0; j < k; j++) store8(zT + j * 8, load8(zT + j * 8) * (v8f)middle[j]);
}

// MARK: step 2 by tables

KATTR static void KFN(build_tables)(const float *zT, long k, float *tables) {
    for (long g = 0; g * 8 < k; g++) {
        float *table = tables + g * 256 * 8;
        long first = g * 8;
        long n = k - first < 8 ? k - first : 8;
        v8f total = 0;
        for (long b = 0; b < n; b++) total += load8(zT + (first + b) * 8);
        store8(table, total);
        for (long b = 0; b < n; b++) {
            v8f twice = load8(zT + (first + b) * 8) + load8(zT + (first + b) * 8);
            long half = 1L << b;
            for (long e = 0; e < half; e++) store8(table + (half + e) * 8, load8(table + e * 8) - twice);
        }
    }
}


KATTR static void KFN(up_table8)(const float *tables, long groups, const uint8_t *columns, long outFeatures,
                                 const float *scale, float *y, long yStride, float *tail) {
    long o = 0;
    long fullEnd = outFeatures & ~7L;
    while (o < fullEnd) {
        v8f c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
        const uint8_t *q = columns + o * groups;
        const float *t = tables;
        for (long g = 0; g < groups; g++) {
            c0 += load8(t + q[0] * 8); c1 += load8(t + q[groups] * 8);
            c2 += load8(t + q[2 * groups] * 8); c3 += load8(t + q[3 * groups] * 8);
            c4 += load8(t + q[4 * groups] * 8); c5 += load8(t + q[5 * groups] * 8);
            c6 += load8(t + q[6 * groups] * 8); c7 += load8(t + q[7 * groups] * 8);
            q += 1;
            t += 256 * 8;
        }
        v8f rows[8];
        TRANSPOSE8(c0, c1, c2, c3, c4, c5, c6, c7, rows);
        // All eight rows of y are loaded before any is stored: when `out` is a multiple of 1024 they
        // lie a multiple of 4 KiB apart, and a load issued after a store with the same low 12
        // address bits waits for that store ("4K aliasing").
        v8f b = load8(scale + o), old[8];
        for (int r = 0; r < 8; r++) old[r] = load8(y + r * yStride + o);
        for (int r = 0; r < 8; r++) store8(y + r * yStride + o, rows[r] * b + old[r]);
        o += 8;
    }
    if (o < outFeatures) {
        for (long i = 0; i < outFeatures - o; i++) {
            v8f c = 0;
            for (long g = 0; g < groups; g++) c += load8(tables + (g * 256 + columns[(o + i) * groups + g]) * 8);
            store8(tail + i * 8, c);
        }
        for (long i = 0; i < outFeatures - o; i++) {
            v8f c = load8(tail + i * 8);
            for (int r = 0; r < 8; r++) y[r * yStride + o + i] += scale[o + i] * c[r];
        }
    }
}

// MARK: step 2 by XOR

KATTR static inline void KFN(up4x2)(const float *z, long zStride, long k, const uint64_t *signB, long wordsPerRow,
                                    long chunk, const float *scale, float *y, long yStride) {
    v8f a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
    unsigned shift = (unsigned)((chunk & 7) * 8);
    const uint64_t *row = signB + (chunk >> 3);
    const float *z1 = z + zStride, *z2 = z + 2 * zStride, *z3 = z + 3 * zStride;
    for (long j = 0; j < k; j++) {
        uint64_t pair = *row >> shift;
        v8u m0 = sign_lut[pair & 0xFF], m1 = sign_lut[(pair >> 8) & 0xFF];
        v8u v0 = (v8u)(v8f)z[j], v1 = (v8u)(v8f)z1[j], v2 = (v8u)(v8f)z2[j], v3 = (v8u)(v8f)z3[j];
        a00 += FLIP(v0, m0); a01 += FLIP(v0, m1);
        a10 += FLIP(v1, m0); a11 += FLIP(v1, m1);
        a20 += FLIP(v2, m0); a21 += FLIP(v2, m1);
        a30 += FLIP(v3, m0); a31 += FLIP(v3, m1);
        row += wordsPerRow;
    }
    long o = chunk * 8;
    v8f b0 = load8(scale + o), b1 = load8(scale + o + 8);
    float *p = y + o;
    store8(p, a00 * b0 + load8(p)); store8(p + 8, a01 * b1 + load8(p + 8)); p += yStride;
    store8(p, a10 * b0 + load8(p)); store8(p + 8, a11 * b1 + load8(p + 8)); p += yStride;
    store8(p, a20 * b0 + load8(p)); store8(p + 8, a21 * b1 + load8(p + 8)); p += yStride;
    store8(p, a30 * b0 + load8(p)); store8(p + 8, a31 * b1 + load8(p + 8));
}

#define MASK(w, byte) sign_lut[((w) >> ((byte) * 8)) & 0xFF]

KATTR static inline void KFN(up1x8)(const float *z, long k, const uint64_t *signB, long wordsPerRow, long word,
                                    const float *scale, float *y) {
    v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    const uint64_t *row = signB + word;
    for (long j = 0; j < k; j++) {
        uint64_t w = *row;
        v8u v = (v8u)(v8f)z[j];
        a0 += FLIP(v, MASK(w, 0)); a1 += FLIP(v, MASK(w, 1));
        a2 += FLIP(v, MASK(w, 2)); a3 += FLIP(v, MASK(w, 3));
        a4 += FLIP(v, MASK(w, 4)); a5 += FLIP(v, MASK(w, 5));
        a6 += FLIP(v, MASK(w, 6)); a7 += FLIP(v, MASK(w, 7));
        row += wordsPerRow;
    }
    store8(y, a0 * load8(scale) + load8(y));
    store8(y + 8, a1 * load8(scale + 8) + load8(y + 8));
    store8(y + 16, a2 * load8(scale + 16) + load8(y + 16));
    store8(y + 24, a3 * load8(scale + 24) + load8(y + 24));
    store8(y + 32, a4 * load8(scale + 32) + load8(y + 32));
    store8(y + 40, a5 * load8(scale + 40) + load8(y + 40));
    store8(y + 48, a6 * load8(scale + 48) + load8(y + 48));
    store8(y + 56, a7 * load8(scale + 56) + load8(y + 56));
}

KATTR static inline void KFN(up1x4)(const float *z, long k, const uint64_t *signB, long wordsPerRow, long word,
                                    int half, const float *scale, float *y) {
    v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const uint64_t *row = signB + word;
    unsigned shift = (unsigned)(half * 32);
    for (long j = 0; j < k; j++) {
        uint64_t w = *row >> shift;
        v8u v = (v8u)(v8f)z[j];
        a0 += FLIP(v, MASK(w, 0)); a1 += FLIP(v, MASK(w, 1));
        a2 += FLIP(v, MASK(w, 2)); a3 += FLIP(v, MASK(w, 3));
        row += wordsPerRow;
    }
    store8(y, a0 * load8(scale) + load8(y));
    store8(y + 8, a1 * load8(scale + 8) + load8(y + 8));
    store8(y + 16, a2 * load8(scale + 16) + load8(y + 16));
    store8(y + 24, a3 * load8(scale + 24) + load8(y + 24));
}

KATTR static inline void KFN(up1)(const float *z, long k, const uint64_t *signB, long wordsPerRow, long word,
                                  const float *scale, float *y, int wide) {
    if (wide) {
        KFN(up1x8)(z, k, signB, wordsPerRow, word, scale, y);
    } else {
        KFN(up1x4)(z, k, signB, wordsPerRow, word, 0, scale, y);
        KFN(up1x4)(z, k, signB, wordsPerRow, word, 1, scale + 32, y + 32);
    }
}

KATTR static void KFN(sign_up)(const float *z, long zStride, long tokens, long k, const uint64_t *signB,
                               long wordsPerRow, long outFeatures, long w0, long w1, const float *scale,
                               float *y, long yStride, float *tail, int wide) {
    for (long word = w0; word < w1; word++) {
        long first = word * 64;
        long count = outFeatures - first < 64 ? outFeatures - first : 64;
        if (count == 64 && tokens == 4) {
            for (long chunk = word * 8; chunk < word * 8 + 8; chunk += 2)
                KFN(up4x2)(z, zStride, k, signB, wordsPerRow, chunk, scale, y, yStride);
        } else if (count == 64) {
            for (long t = 0; t < tokens; t++)
                KFN(up1)(z + t * zStride, k, signB, wordsPerRow, word, scale + first, y + t * yStride + first, wide);
        } else {
            float *paddedScale = tail, *paddedY = tail + 64;
            for (long c = 0; c < 64; c++) paddedScale[c] = c < count ? scale[first + c] : 0;
            for (long t = 0; t < tokens; t++) {
                float *row = y + t * yStride + first;
                for (long c = 0; c < 64; c++) paddedY[c] = c < count ? row[c] : 0;
                KFN(up1)(z + t * zStride, k, signB, wordsPerRow, word, paddedScale, paddedY, wide);
                for (long c = 0; c < count; c++) row[c] = paddedY[c];
            }
        }
    }
}
