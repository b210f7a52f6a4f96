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

// MARK: report statistics (exact products, double sums, 64-column panels)

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

KATTR static double KFN(side_stats)(const float *x, long xrs, long xcs, long p,
                                    const uint64_t *signs, long wpr, const float *rowScale, const float *colScale, long q,
                                    long n, const double *g, double *gxx, double *gyy, double *gxy) {
    long pe = (p + 1) & ~1L, qe = (q + 1) & ~1L;
    double *px = calloc_doubles((size_t)(pe + qe) * PANEL);
    double *py = px + pe * PANEL;
    float *yrow = calloc_floats(PANEL);
    v4d *acc = calloc_v4d((size_t)(pe * pe + qe * qe + pe * qe));
    v4d *axx = acc, *ayy = acc + pe * pe, *axy = ayy + qe * qe;

    v4d diff = 0;
    double diffTail = 0;
    const v8u bit = {1, 2, 4, 8, 16, 32, 64, 128};
    for (long c0 = 0; c0 < n; c0 += PANEL) {
        long len = n - c0 < PANEL ? n - c0 : PANEL;
        for (long i = 0; i < p; i++) {
            double *dst = px + i * PANEL;
            const float *src = x + i * xrs + c0 * xcs;
            if (xcs == 1) {
                long c = 0;
                for (; c + 8 <= len; c += 8) store8d(dst + c, __builtin_convertvector(load8(src + c), v8d));
                for (; c < len; c++) dst[c] = src[c];
            } else {
                for (long c = 0; c < len; c++) dst[c] = src[c * xcs];
            }
            for (long c = len; c < PANEL; c++) dst[c] = 0;
        }
        for (long j = 0; j < q; j++) {
            uint64_t word = signs[j * wpr + c0 / PANEL];
            float r = rowScale ? rowScale[j] : 1.0f;
            double *dst = py + j * PANEL;
            long c = 0;
            for (; c + 8 <= len; c += 8) {
                v8f base = colScale ? load8(colScale + c0 + c) : (v8f)1.0f;
                if (rowScale) base = (v8f)r * base;
                v8u byte = (v8u)(uint32_t)((word >> c) & 0xFF);
                v8u flip = (v8u)((byte & bit) != 0) & 0x80000000u;
                v8f yv = (v8f)((v8u)base ^ flip);
                store8(yrow + c, yv);
                store8d(dst + c, __builtin_convertvector(yv, v8d));
            }
            for (; c < len; c++) {
                float base = colScale ? colScale[c0 + c] : 1.0f;
                if (rowScale) base = r * base;
                float yv = ((word >> c) & 1) ? -base : base;
                yrow[c] = yv;
                dst[c] = yv;
            }
            for (long t = len; t < PANEL; t++) dst[t] = 0;
            if (g && j < p) {
                // X(j, c) − (float)(Y(j, c)·g[j]), squared, in double.
                const double *xrow = px + j * PANEL;
                double gj = g[j];
                long t = 0;
                for (; t + 4 <= len; t += 4) {
                    v4f tilde = __builtin_convertvector(__builtin_convertvector(load4(yrow + t), v4d) * (v4d)gj, v4f);
                    v4d d = load4d(xrow + t) - __builtin_convertvector(tilde, v4d);
                    diff += d * d;
                }
                for (; t < len; t++) {
                    float tilde = (float)((double)yrow[t] * gj);
                    double d = xrow[t] - (double)tilde;
                    diffTail += d * d;
                }
            }
        }
        KFN(panel_products)(px, pe, px, pe, 1, axx);
        KFN(panel_products)(py, qe, py, qe, 1, ayy);
        KFN(panel_products)(px, pe, py, qe, 0, axy);
    }
    for (long i = 0; i < p; i++)
        for (long j = 0; j < p; j++) gxx[i * p + j] = sum4(i <= j ? axx[i * pe + j] : axx[j * pe + i]);
    for (long i = 0; i < q; i++)
        for (long j = 0; j < q; j++) gyy[i * q + j] = sum4(i <= j ? ayy[i * qe + j] : ayy[j * qe + i]);
    for (long i = 0; i < p; i++)
        for (long j = 0; j < q; j++) gxy[i * q + j] = sum4(axy[i * qe + j]);
    double total = diffTail + sum4(diff);
    free(acc);
    free(yrow);
    free(px);
    return total;
}

/// The largest eigenvalue of a symmetric positive semi-definite `n × n` matrix (report
/// figures): 20 squarings (each rescaled) make `G^(2^20)`, whose largest column is the top
/// eigenvector closely enough that the Rayleigh quotient is within 2e-7 relative of the
/// largest eigenvalue (the worst case, (1 − ρ)·ρ^(2^21) over eigenvalue ratios ρ, is 1/(e·2^21)).
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
