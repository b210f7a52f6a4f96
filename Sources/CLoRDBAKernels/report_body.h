// Magnitude-fit passes and the report's fused statistics, included twice by kernels.c: once as the baseline (SSE2) variant and once
// under `__attribute__((target("avx2,fma,f16c")))`. KFN(name) names the variant; KATTR is its
// target attribute. Operations and their order are the same in both, so results are identical.

// MARK: rank-1 magnitude fit helpers

KATTR static void KFN(weighted_abs_colsum)(const float *m, long p, long n, const double *u, double *v) {
    for (long i = 0; i < p; i++) {
        double w = u[i];
        if (w == 0) continue;
        const float *row = m + i * n;
        v4d wv = w;
        long j = 0;
        for (; j + 4 <= n; j += 4) {
            v4f x = load4(row + j);
            v4d old = load4d(v + j);
            store4d(v + j, old + wv * __builtin_convertvector(fabs4(x), v4d));
        }
        for (; j < n; j++) v[j] += w * (double)__builtin_fabsf(row[j]);
    }
}

KATTR static double KFN(rank1_residual)(const float *m, long p, long n, const float *u, const float *v) {
    v8d acc = 0;
    double tail = 0;
    for (long i = 0; i < p; i++) {
        const float *row = m + i * n;
        float ui = u[i];
        v8f uv = ui;
        long j = 0;
        for (; j + 8 <= n; j += 8) {
            v8d d = __builtin_convertvector(fabs8(load8(row + j)), v8d) - __builtin_convertvector(uv * load8(v + j), v8d);
            acc += d * d;
        }
        for (; j < n; j++) {
            double d = (double)__builtin_fabsf(row[j]) - (double)(ui * v[j]);
            tail += d * d;
        }
    }
    double total = tail;
    for (int l = 0; l < 8; l++) total += acc[l];
    return total;
}

// MARK: report statistics (64-column panels of exact double products, or 128-column float blocks)

/// acc += X0·Y0 … over one 64-wide panel row pair tile (2 × 2 pairs), in 4 double lanes,
/// two accumulators per pair so that eight addition chains run at once.
KATTR static inline void KFN(tile22)(const double *x0, const double *x1, const double *y0, const double *y1,
                                     v4d *a00, v4d *a01, v4d *a10, v4d *a11) {
    v4d s00 = *a00, s01 = *a01, s10 = *a10, s11 = *a11;
    v4d t00 = 0, t01 = 0, t10 = 0, t11 = 0;
    for (int t = 0; t < PANEL; t += 8) {
        v4d X0 = load4d(x0 + t), X1 = load4d(x1 + t), Y0 = load4d(y0 + t), Y1 = load4d(y1 + t);
        s00 += X0 * Y0;
        s01 += X0 * Y1;
        s10 += X1 * Y0;
        s11 += X1 * Y1;
        v4d U0 = load4d(x0 + t + 4), U1 = load4d(x1 + t + 4), V0 = load4d(y0 + t + 4), V1 = load4d(y1 + t + 4);
        t00 += U0 * V0;
        t01 += U0 * V1;
        t10 += U1 * V0;
        t11 += U1 * V1;
    }
    *a00 = s00 + t00;
    *a01 = s01 + t01;
    *a10 = s10 + t10;
    *a11 = s11 + t11;
}

KATTR static void KFN(panel_products)(const double *px, long pe, const double *py, long qe, int symmetric, v4d *acc) {
    for (long i = 0; i < pe; i += 2) {
        for (long j = symmetric ? i : 0; j < qe; j += 2) {
            KFN(tile22)(px + i * PANEL, px + (i + 1) * PANEL, py + j * PANEL, py + (j + 1) * PANEL,
                        acc + i * qe + j, acc + i * qe + j + 1, acc + (i + 1) * qe + j, acc + (i + 1) * qe + j + 1);
        }
    }
}

/// Adds a float panel sum (8 lanes) to its double accumulator (4 lanes): low half, then high.
#define ADD_BLOCK(acc, block) do { (acc) += __builtin_convertvector((block).lo, v4d); \
                                   (acc) += __builtin_convertvector((block).hi, v4d); } while (0)

/// Columns per float block: 16 terms per lane.
#define FBLOCK (2 * PANEL)

/// acc(i0|i1, j..j+3) += X·Y over one 128-column block (a 2 × 4 tile of pairs): products rounded
/// to float and summed in float per lane (16 terms, so within 17u = 1.0e-6 of Σ|x·y| even in the
/// worst case; measured 1e-8), each lane's block sum then added in double. Twice the lanes of the
/// double tile, and on cores with separate add pipes, multiplies and adds issue side by side.
KATTR static inline void KFN(tile24f)(const float *x0, const float *x1, const float *y, v4d *r0, v4d *r1) {
    const float *y0 = y, *y1 = y + FBLOCK, *y2 = y + 2 * FBLOCK, *y3 = y + 3 * FBLOCK;
    v8f a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    for (int t = 0; t < FBLOCK; t += 8) {
        v8f X0 = load8(x0 + t), X1 = load8(x1 + t);
        v8f Y0 = load8(y0 + t), Y1 = load8(y1 + t), Y2 = load8(y2 + t), Y3 = load8(y3 + t);
        a0 += X0 * Y0;
        a1 += X0 * Y1;
        a2 += X0 * Y2;
        a3 += X0 * Y3;
        b0 += X1 * Y0;
        b1 += X1 * Y1;
        b2 += X1 * Y2;
        b3 += X1 * Y3;
    }
    ADD_BLOCK(r0[0], a0);
    ADD_BLOCK(r0[1], a1);
    ADD_BLOCK(r0[2], a2);
    ADD_BLOCK(r0[3], a3);
    ADD_BLOCK(r1[0], b0);
    ADD_BLOCK(r1[1], b1);
    ADD_BLOCK(r1[2], b2);
    ADD_BLOCK(r1[3], b3);
}

/// The float-block products (rows of FBLOCK floats); `pe` and `qe` are multiples of 4 (zero rows pad them).
KATTR static void KFN(panel_products_f32)(const float *px, long pe, const float *py, long qe, int symmetric, v4d *acc) {
    for (long i = 0; i < pe; i += 2) {
        for (long j = symmetric ? (i & ~3L) : 0; j < qe; j += 4) {
            KFN(tile24f)(px + i * FBLOCK, px + (i + 1) * FBLOCK, py + j * FBLOCK, acc + i * qe + j, acc + (i + 1) * qe + j);
        }
    }
}

/// The largest power of two not above `peak`, within 2^±100: float blocks are divided by it
/// (exactly) so that float products and block sums cannot overflow; results are multiplied back.
KATTR static inline double KFN(power_of_two_below)(double peak) {
    // Outside 2^±100 no scaling is needed (tiny values cannot overflow) or kept finite.
    if (!(peak > 0x1p-100) || !(peak < 0x1p100)) return peak >= 0x1p100 ? 0x1p100 : 1;
    int e;
    frexp(peak, &e);
    return ldexp(1, e - 1);
}

KATTR static double KFN(side_stats)(const float *x, long xrs, long xcs, long p,
                                    const uint64_t *signs, long wpr, const float *rowScale, const float *colScale, long q,
                                    long n, const double *g, int exact, double *gxx, double *gyy, double *gxy) {
    // Float blocks work on X / 2^ex and Y / 2^ey with 2^ex ≤ max|X| and 2^ey ≤ max|Y| (so every
    // product and block sum is at most 64 in magnitude); exact double products need no scaling.
    float sx = 1, sy = 1;
    if (!exact && p > 0 && n > 0) {
        // Every X entry lies in the span from x[0] to its last entry (a dense block either way).
        double peakX = lordba_abs_peak(x, (p - 1) * xrs + (n - 1) * xcs + 1);
        double peakRow = rowScale ? lordba_abs_peak(rowScale, q) : 1, peakCol = colScale ? lordba_abs_peak(colScale, n) : 1;
        sx = (float)(1 / KFN(power_of_two_below)(peakX));
        sy = (float)(1 / KFN(power_of_two_below)(peakRow * peakCol));
        // Factor differences use g·2^-ex in float: a g beyond that range takes the exact path.
        for (long j = 0; g && j < p; j++)
            if (!(__builtin_fabs(g[j]) * sx < 1e30)) exact = 1;
        if (exact) sx = sy = 1;
    }
    long pe = (p + 3) & ~3L, qe = (q + 3) & ~3L;
    double *px = exact ? calloc_doubles((size_t)(pe + qe) * PANEL) : NULL;
    double *py = exact ? px + pe * PANEL : NULL;
    // Columns per pass: 64 for exact products (their summation order is fixed), a float block otherwise.
    long width = exact ? PANEL : FBLOCK;
    float *fx = calloc_floats((size_t)(pe + qe + 1) * width);
    float *fy = fx + pe * width, *yrow = fy + qe * width;
    v4d *acc = calloc_v4d((size_t)(pe * pe + qe * qe + pe * qe));
    v4d *axx = acc, *ayy = acc + pe * pe, *axy = ayy + qe * qe;

    v4d diff = 0, diff2 = 0, diffScaled = 0;
    double diffTail = 0;
    const v8u bit = {1, 2, 4, 8, 16, 32, 64, 128};
    for (long c0 = 0; c0 < n; c0 += width) {
        long len = n - c0 < width ? n - c0 : width;
        // A dense [n, p] block read as its transpose (the B side): a full pass is a width × p block.
        int blockTranspose = xrs == 1 && xcs == p && len == width;
        if (blockTranspose) KFN(transpose)(x + c0 * xcs, width, p, fx);
        for (long i = 0; i < p; i++) {
            float *dst = fx + i * width;
            const float *src = x + i * xrs + c0 * xcs;
            if (!blockTranspose) {
                long c = 0;
                if (xcs == 1)
                    for (; c + 8 <= len; c += 8) store8(dst + c, load8(src + c));
                for (; c < len; c++) dst[c] = src[c * xcs];
                for (; c < width; c++) dst[c] = 0;
            }
            if (exact)
                for (long c = 0; c < PANEL; c += 8) store8d(px + i * PANEL + c, __builtin_convertvector(load8(dst + c), v8d));
        }
        if (!exact && sx != 1)
            for (long c = 0; c < p * width; c += 8) store8(fx + c, load8(fx + c) * (v8f)sx);
        for (long j = 0; j < q; j++) {
            const uint64_t *words = signs + j * wpr + c0 / 64;
            float r = rowScale ? rowScale[j] : 1.0f;
            long c = 0;
            for (; c + 8 <= len; c += 8) {
                uint64_t word = words[c / 64];
                v8f base = colScale ? load8(colScale + c0 + c) : (v8f)1.0f;
                if (rowScale) base = (v8f)r * base;
                v8u byte = (v8u)(uint32_t)((word >> (c % 64)) & 0xFF);
                v8u flip = (v8u)((byte & bit) != 0) & 0x80000000u;
                store8(yrow + c, (v8f)((v8u)base ^ flip));
            }
            for (; c < len; c++) {
                float base = colScale ? colScale[c0 + c] : 1.0f;
                if (rowScale) base = r * base;
                yrow[c] = ((words[c / 64] >> (c % 64)) & 1) ? -base : base;
            }
            for (long t = len; t < width; t++) yrow[t] = 0;
            if (exact) {
                for (long t = 0; t < PANEL; t += 8) store8d(py + j * PANEL + t, __builtin_convertvector(load8(yrow + t), v8d));
            } else {
                for (long t = 0; t < width; t += 8) store8(fy + j * width + t, load8(yrow + t) * (v8f)sy);
            }
            if (g && j < p && exact) {
                // X(j, c) − (float)(Y(j, c)·g[j]), squared, in double.
                const float *xrow = fx + j * width;
                double gj = g[j];
                // Two accumulators, so that two addition chains run at once.
                long t = 0;
                for (; t + 8 <= len; t += 8) {
                    v4f tilde = __builtin_convertvector(__builtin_convertvector(load4(yrow + t), v4d) * (v4d)gj, v4f);
                    v4d d = __builtin_convertvector(load4(xrow + t), v4d) - __builtin_convertvector(tilde, v4d);
                    diff += d * d;
                    v4f tilde2 = __builtin_convertvector(__builtin_convertvector(load4(yrow + t + 4), v4d) * (v4d)gj, v4f);
                    v4d d2 = __builtin_convertvector(load4(xrow + t + 4), v4d) - __builtin_convertvector(tilde2, v4d);
                    diff2 += d2 * d2;
                }
                for (; t < len; t++) {
                    float tilde = (float)((double)yrow[t] * gj);
                    double d = (double)xrow[t] - (double)tilde;
                    diffTail += d * d;
                }
            } else if (g && j < p) {
                // The same in float blocks, on X / 2^ex (scaled above) and Y·g / 2^ex: a sum of
                // squares (no cancellation), so float blocks keep it to 1e-6 relative.
                const float *xrow = fx + j * width;
                v8f gj = (float)(g[j] * sx);
                v8f block = 0;
                for (long t = 0; t < width; t += 8) {   // zero padding adds nothing
                    v8f d = load8(xrow + t) - load8(yrow + t) * gj;
                    block += d * d;
                }
                ADD_BLOCK(diffScaled, block);
            }
        }
        if (exact) {
            KFN(panel_products)(px, pe, px, pe, 1, axx);
            KFN(panel_products)(py, qe, py, qe, 1, ayy);
            KFN(panel_products)(px, pe, py, qe, 0, axy);
        } else {
            KFN(panel_products_f32)(fx, pe, fx, pe, 1, axx);
            KFN(panel_products_f32)(fy, qe, fy, qe, 1, ayy);
            KFN(panel_products_f32)(fx, pe, fy, qe, 0, axy);
        }
    }
    // Multiplying back by powers of two is exact in double.
    double uxx = 1 / ((double)sx * sx), uyy = 1 / ((double)sy * sy), uxy = 1 / ((double)sx * sy);
    for (long i = 0; i < p; i++)
        for (long j = 0; j < p; j++) gxx[i * p + j] = sum4(i <= j ? axx[i * pe + j] : axx[j * pe + i]) * uxx;
    for (long i = 0; i < q; i++)
        for (long j = 0; j < q; j++) gyy[i * q + j] = sum4(i <= j ? ayy[i * qe + j] : ayy[j * qe + i]) * uyy;
    for (long i = 0; i < p; i++)
        for (long j = 0; j < q; j++) gxy[i * q + j] = sum4(axy[i * qe + j]) * uxy;
    double total = diffTail + sum4(diff + diff2) + sum4(diffScaled) / ((double)sx * sx);
    free(acc);
    free(fx);
    free(px);
    return total;
}

/// The largest eigenvalue of a symmetric positive semi-definite `n × n` matrix (report
/// figures): up to 20 squarings (each rescaled) make `G^(2^20)`, whose largest column is the top
/// eigenvector closely enough that the Rayleigh quotient is within 2e-7 relative of the
/// largest eigenvalue (the worst case, (1 − ρ)·ρ^(2^21) over eigenvalue ratios ρ, is 1/(e·2^21)).
/// The squarings stop early once the power is rank one to working precision: with eigenvalue
/// ratios r_i of the power, `(tr² − ‖·‖_F²)/tr² ≥ 2·Σ_{i>1} r_i / n²`, so below 1e-12 the other
/// eigenvectors' weight in the chosen column is at most n²·1e-12 and the quotient's relative
/// error at most n⁵·1e-24 (3e-10 for n = 1024).
KATTR static double KFN(largest_eigenvalue)(const double *g, long n) {
    if (n <= 0) return 0;
    double *m = calloc_doubles((size_t)(2 * n * n));
    double *t = m + n * n;
    memcpy(m, g, sizeof(double) * (size_t)(n * n));
    for (int round = 0; round < 20; round++) {
        for (long i = 0; i < n * n; i++) t[i] = 0;
        for (long i = 0; i < n; i++)
            for (long k = 0; k < n; k++) {
                double w = m[i * n + k];
                double *restrict ti = t + i * n;
                const double *restrict mk = m + k * n;
                for (long j = 0; j < n; j++) ti[j] += w * mk[j];
            }
        double peak = 0;
        for (long i = 0; i < n * n; i++) peak = __builtin_fabs(t[i]) > peak ? __builtin_fabs(t[i]) : peak;
        if (!(peak > 0)) { free(m); return 0; }
        double inverse = 1 / peak;
        for (long i = 0; i < n * n; i++) m[i] = t[i] * inverse;
        double trace = 0, frobenius = 0;
        for (long i = 0; i < n; i++) trace += m[i * n + i];
        for (long i = 0; i < n * n; i++) frobenius += m[i] * m[i];
        if (trace * trace - frobenius <= 1e-12 * trace * trace) break;
    }
    long best = 0;
    double bestNorm = -1;
    for (long j = 0; j < n; j++) {
        double s = 0;
        for (long i = 0; i < n; i++) s += m[i * n + j] * m[i * n + j];
        if (s > bestNorm) { bestNorm = s; best = j; }
    }
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double gv = 0;
        for (long k = 0; k < n; k++) gv += g[i * n + k] * m[k * n + best];
        num += m[i * n + best] * gv;
        den += m[i * n + best] * m[i * n + best];
    }
    free(m);
    double value = den > 0 ? num / den : 0;
    return value > 0 ? value : 0;
}
