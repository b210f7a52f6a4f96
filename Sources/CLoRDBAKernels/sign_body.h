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

#define EVEN(a, b) __builtin_shufflevector((a), (b), 0, 2, 4, 6, 8, 10, 12, 14)
#define ODD(a, b) __builtin_shufflevector((a), (b), 1, 3, 5, 7, 9, 11, 13, 15)

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
        v8f a0 = EVEN(c0, c1), a1 = EVEN(c2, c3), a2 = EVEN(c4, c5), a3 = EVEN(c6, c7);
        v8f a4 = ODD(c0, c1), a5 = ODD(c2, c3), a6 = ODD(c4, c5), a7 = ODD(c6, c7);
        v8f b0 = EVEN(a0, a1), b1 = EVEN(a2, a3), b2 = EVEN(a4, a5), b3 = EVEN(a6, a7);
        v8f b4 = ODD(a0, a1), b5 = ODD(a2, a3), b6 = ODD(a4, a5), b7 = ODD(a6, a7);
        v8f b = load8(scale + o);
        float *p = y + o;
        store8(p, EVEN(b0, b1) * b + load8(p)); p += yStride;
        store8(p, EVEN(b2, b3) * b + load8(p)); p += yStride;
        store8(p, EVEN(b4, b5) * b + load8(p)); p += yStride;
        store8(p, EVEN(b6, b7) * b + load8(p)); p += yStride;
        store8(p, ODD(b0, b1) * b + load8(p)); p += yStride;
        store8(p, ODD(b2, b3) * b + load8(p)); p += yStride;
        store8(p, ODD(b4, b5) * b + load8(p)); p += yStride;
        store8(p, ODD(b6, b7) * b + load8(p));
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
