// Sign-search kernels (the default pipeline's refinement), included twice by kernels.c: once as
// the baseline (SSE2) variant and once under `__attribute__((target("avx2,fma,f16c")))`. KFN(name)
// names the variant; KATTR is its target attribute. Every lane performs the operations of the
// scalar Swift code they replaced, in the same order, so the chosen signs and scales (and so the
// `.lba` bytes) are identical on every path.

// MARK: C·X

KATTR static void KFN(combine)(const float *c, long p, const float *x, long q, long n, long stride, float *out) {
    // Eight columns at a time: the q input vectors are loaded once, every output row is
    // accumulated in registers and stored once.
    v8f *inputs = aligned_alloc(64, (size_t)(q > 0 ? q : 1) * sizeof(v8f));
    if (!inputs) abort();
    long col = 0;
    for (; col + 8 <= n; col += 8) {
        for (long l = 0; l < q; l++) inputs[l] = load8(x + l * stride + col);
        long j = 0;
        // Four output rows at once: four independent addition chains (each still summed in order).
        for (; j + 4 <= p; j += 4) {
            const float *c0 = c + j * q, *c1 = c0 + q, *c2 = c1 + q, *c3 = c2 + q;
            v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (long l = 0; l < q; l++) {
                v8f in = inputs[l];
                a0 += (v8f)c0[l] * in;
                a1 += (v8f)c1[l] * in;
                a2 += (v8f)c2[l] * in;
                a3 += (v8f)c3[l] * in;
            }
            store8(out + j * stride + col, a0);
            store8(out + (j + 1) * stride + col, a1);
            store8(out + (j + 2) * stride + col, a2);
            store8(out + (j + 3) * stride + col, a3);
        }
        for (; j < p; j++) {
            const float *cj = c + j * q;
            v8f acc = 0;
            for (long l = 0; l < q; l++) acc += (v8f)cj[l] * inputs[l];
            store8(out + j * stride + col, acc);
        }
    }
    free(inputs);
    for (; col < n; col++) {
        for (long j = 0; j < p; j++) {
            float acc = 0;
            for (long l = 0; l < q; l++) acc += c[j * q + l] * x[l * stride + col];
            out[j * stride + col] = acc;
        }
    }
}

// MARK: binary coordinate descent

/// The lanes of a mask as bits (lane l → bit l).
#ifndef MASK8
#define MASK8(m) ({ v8u m_ = (m); int b_ = 0; for (int l_ = 0; l_ < 8; l_++) b_ |= (m_[l_] != 0) << l_; b_; })
#endif

/// Lane-wise select: `mask` lanes (all bits set) from `a`, others from `b`.
#define SELECT8(mask, a, b) ((v8f)(((v8u)(mask) & (v8u)(a)) | (~(v8u)(mask) & (v8u)(b))))

/// Eight columns `i0 … i0+7` (lanes; `lanes` of them real) of the sign search, each lane the
/// scalar algorithm of `SignDescent.descend`: a lane that settles (a sweep without flips) or is
/// skipped is masked out, which is exactly the scalar loop's `break`/`continue`, since another
/// sweep over an unchanged column flips nothing.
KATTR static long KFN(descend8)(float *signs, float *scales, int fixedScales, const float *gram, const float *cross,
                                const float *product, long k, long stride, long i0, int lanes, int maximumSweeps,
                                float threshold, v8f *s, v8f *c, v8f *gs) {
    // Load the lanes (columns past `lanes` read as 0 and are inactive).
    v8f a = 0;
    for (int l = 0; l < lanes; l++) a[l] = scales[i0 + l];
    for (long j = 0; j < k; j++) {
        if (lanes == 8) {
            s[j] = load8(signs + j * stride + i0);
            c[j] = load8(cross + j * stride + i0);
            gs[j] = load8(product + j * stride + i0);
        } else {
            v8f sv = 0, cv = 0, gv = 0;
            for (int l = 0; l < lanes; l++) {
                sv[l] = signs[j * stride + i0 + l];
                cv[l] = cross[j * stride + i0 + l];
                gv[l] = product[j * stride + i0 + l];
            }
            s[j] = sv; c[j] = cv; gs[j] = gv;
        }
    }
    v8u active = 0;
    for (int l = 0; l < lanes; l++) active[l] = ~0u;
    if (fixedScales) {
        // Skip a == 0 or a not finite (|a| ≥ ∞ or NaN: `a == a` fails for NaN).
        v8f magnitude = fabs8(a);
        v8u finite = (v8u)(magnitude < (v8f)__builtin_inff());
        active &= (v8u)(a != 0) & finite;
    }
    v8f u = 0, v = 0;
    for (long j = 0; j < k; j++) {
        u += s[j] * c[j];
        v += s[j] * gs[j];
    }
    if (!fixedScales) active &= (v8u)(v > 0) & (v8u)(u != 0);
    v8f a2 = a * a;
    long flips = 0;
    v8u live = active;
    for (int sweep = 0; sweep < maximumSweeps; sweep++) {
        if (!MASK8(live)) break;
        v8u flippedLanes = 0;
        for (long j = 0; j < k; j++) {
            v8f gjj = gram[j * k + j];
            v8f sj = s[j], cj = c[j], gsj = gs[j];
            v8f u2 = u - (v8f)2 * sj * cj;
            v8f v2 = v - (v8f)4 * sj * gsj + (v8f)4 * gjj;
            v8u better;
            if (fixedScales) {
                better = (v8u)(a2 * (gjj - sj * gsj) + a * sj * cj < 0);
            } else {
                better = (v8u)(v2 > 0) & (v8u)(u2 * u2 * v > u * u * v2 * (v8f)threshold);
            }
            better &= live;
            int bits = MASK8(better);
            if (!bits) continue;
            flips += __builtin_popcount((unsigned)bits);
            flippedLanes |= better;
            v8f flippedSign = -sj;
            s[j] = SELECT8(better, flippedSign, sj);
            v8f twice = (v8f)2 * flippedSign;
            for (long l = 0; l < k; l++) {
                v8f updated = gs[l] + twice * (v8f)gram[l * k + j];
                gs[l] = SELECT8(better, updated, gs[l]);
            }
            u = SELECT8(better, u2, u);
            v = SELECT8(better, v2, v);
        }
        live &= flippedLanes;
    }
    // Store: signs of every real lane (unchanged lanes write back what they read), scales of
    // active lanes in the free-scale case.
    v8f ratio = u / v;
    if (lanes == 8) {
        for (long j = 0; j < k; j++) store8(signs + j * stride + i0, s[j]);
    } else {
        for (long j = 0; j < k; j++)
            for (int l = 0; l < lanes; l++) signs[j * stride + i0 + l] = s[j][l];
    }
    for (int l = 0; l < lanes; l++)
        if (!fixedScales && active[l]) scales[i0 + l] = ratio[l];
    return flips;
}

KATTR static long KFN(sign_descent)(float *signs, float *scales, int fixedScales, const float *gram, const float *cross,
                                    const float *product, long k, long n, long stride, int maximumSweeps, float threshold) {
    v8f *scratch = aligned_alloc(64, (size_t)(3 * (k > 0 ? k : 1)) * sizeof(v8f));
    if (!scratch) abort();
    long flips = 0;
    for (long i0 = 0; i0 < n; i0 += 8) {
        int lanes = n - i0 < 8 ? (int)(n - i0) : 8;
        flips += KFN(descend8)(signs, scales, fixedScales, gram, cross, product, k, stride, i0, lanes, maximumSweeps,
                               threshold, scratch, scratch + k, scratch + 2 * k);
    }
    free(scratch);
    return flips;
}
