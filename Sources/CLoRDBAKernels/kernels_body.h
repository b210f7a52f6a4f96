// The kernel bodies, included twice by kernels.c: once as the baseline (SSE2) variant and once
// under `__attribute__((target("avx2,fma,f16c")))`. KFN(name) names the variant; KATTR is its
// target attribute. Operations and their order are the same in both, so results are identical.

// MARK: exact replicas of the Swift SIMD dot products (their results feed stored bytes)

KATTR static double KFN(dot_f64)(const float *a, const float *b, long n, int absolute) {
    v8d acc0 = 0, acc1 = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a0 = load8(a + i), a1 = load8(a + i + 8), b0 = load8(b + i), b1 = load8(b + i + 8);
        if (absolute) { a0 = fabs8(a0); a1 = fabs8(a1); b0 = fabs8(b0); b1 = fabs8(b1); }
        acc0 += __builtin_convertvector(a0, v8d) * __builtin_convertvector(b0, v8d);
        acc1 += __builtin_convertvector(a1, v8d) * __builtin_convertvector(b1, v8d);
    }
    v8d s = acc0 + acc1;
    double total = -0.0;
    for (int l = 0; l < 8; l++) total += s[l];
    for (; i < n; i++) {
        double x = a[i], y = b[i];
        if (absolute) { x = __builtin_fabs(x); y = __builtin_fabs(y); }
        total += x * y;
    }
    return total;
}

/// Two exact dots sharing the loads of `a`.
KATTR static void KFN(dot2_f64)(const float *a, const float *b0p, const float *b1p, long n, int absolute,
                                double *out0, double *out1) {
    v8d p0 = 0, p1 = 0, q0 = 0, q1 = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a0 = load8(a + i), a1 = load8(a + i + 8);
        v8f b0 = load8(b0p + i), b1 = load8(b0p + i + 8), c0 = load8(b1p + i), c1 = load8(b1p + i + 8);
        if (absolute) {
            a0 = fabs8(a0); a1 = fabs8(a1); b0 = fabs8(b0); b1 = fabs8(b1); c0 = fabs8(c0); c1 = fabs8(c1);
        }
        v8d da0 = __builtin_convertvector(a0, v8d), da1 = __builtin_convertvector(a1, v8d);
        p0 += da0 * __builtin_convertvector(b0, v8d);
        p1 += da1 * __builtin_convertvector(b1, v8d);
        q0 += da0 * __builtin_convertvector(c0, v8d);
        q1 += da1 * __builtin_convertvector(c1, v8d);
    }
    v8d s = p0 + p1, t = q0 + q1;
    double ts = -0.0, tt = -0.0;
    for (int l = 0; l < 8; l++) { ts += s[l]; tt += t[l]; }
    for (; i < n; i++) {
        double x = a[i], y = b0p[i], z = b1p[i];
        if (absolute) { x = __builtin_fabs(x); y = __builtin_fabs(y); z = __builtin_fabs(z); }
        ts += x * y;
        tt += x * z;
    }
    *out0 = ts;
    *out1 = tt;
}

KATTR static void KFN(pairs_f64)(const float *x, long p, const float *y, long q, long n, int symmetric,
                                 int absolute, double *out) {
    for (long i = 0; i < p; i++) {
        long j = symmetric ? i : 0;
        for (; j + 2 <= q; j += 2) {
            double d0, d1;
            KFN(dot2_f64)(x + i * n, y + j * n, y + (j + 1) * n, n, absolute, &d0, &d1);
            out[i * q + j] = d0;
            out[i * q + j + 1] = d1;
            if (symmetric) { out[j * q + i] = d0; out[(j + 1) * q + i] = d1; }
        }
        for (; j < q; j++) {
            double d = KFN(dot_f64)(x + i * n, y + j * n, n, absolute);
            out[i * q + j] = d;
            if (symmetric) out[j * q + i] = d;
        }
    }
}

/// `lordba_pairs_f64` for a symmetric product, blocked over columns: each block of |X| or X
/// is converted to double once and every pair's 16 lane sums stay in memory between blocks,
/// so each pair adds the same products in the same lanes in the same order as `dot_f64`.
KATTR static void KFN(gram_f64)(const float *x, long p, long n, int absolute, double *out) {
    enum { BLOCK = 256 };
    long full = n - n % 16;
    long pe = p + 1;   // rows, plus a zero row for the odd pair at the end
    double *panel = calloc_doubles((size_t)pe * BLOCK);
    v4d *lanes = calloc_v4d((size_t)pe * pe * 4);   // pair (i, j): 16 lanes as 4 × v4d
    for (long c0 = 0; c0 < full; c0 += BLOCK) {
        long len = full - c0 < BLOCK ? full - c0 : BLOCK;
        for (long i = 0; i < p; i++) {
            const float *src = x + i * n + c0;
            double *dst = panel + i * BLOCK;
            for (long c = 0; c < len; c += 8) {
                v8f v = load8(src + c);
                if (absolute) v = fabs8(v);
                store8d(dst + c, __builtin_convertvector(v, v8d));
            }
        }
        for (long i = 0; i < p; i++) {
            const double *xi = panel + i * BLOCK;
            for (long j = i; j < p; j += 2) {
                // Pairs (i, j) and (i, j + 1); row j + 1 may be the zero padding row.
                const double *xj = panel + j * BLOCK, *xk = panel + (j + 1) * BLOCK;
                v4d *lj = lanes + (i * pe + j) * 4, *lk = lanes + (i * pe + j + 1) * 4;
                v4d a0 = lj[0], a1 = lj[1], a2 = lj[2], a3 = lj[3];
                v4d b0 = lk[0], b1 = lk[1], b2 = lk[2], b3 = lk[3];
                for (long c = 0; c < len; c += 16) {
                    v4d u0 = load4d(xi + c), u1 = load4d(xi + c + 4), u2 = load4d(xi + c + 8), u3 = load4d(xi + c + 12);
                    a0 += u0 * load4d(xj + c);
                    a1 += u1 * load4d(xj + c + 4);
                    a2 += u2 * load4d(xj + c + 8);
                    a3 += u3 * load4d(xj + c + 12);
                    b0 += u0 * load4d(xk + c);
                    b1 += u1 * load4d(xk + c + 4);
                    b2 += u2 * load4d(xk + c + 8);
                    b3 += u3 * load4d(xk + c + 12);
                }
                lj[0] = a0; lj[1] = a1; lj[2] = a2; lj[3] = a3;
                lk[0] = b0; lk[1] = b1; lk[2] = b2; lk[3] = b3;
            }
        }
    }
    for (long i = 0; i < p; i++) {
        for (long j = i; j < p; j++) {
            const v4d *l = lanes + (i * pe + j) * 4;
            // Lanes 0…7 are l[0], l[1]; lanes 8…15 are l[2], l[3]: sum (lane, lane + 8) in order.
            v4d lo = l[0] + l[2], hi = l[1] + l[3];
            double total = -0.0;
            total += lo[0]; total += lo[1]; total += lo[2]; total += lo[3];
            total += hi[0]; total += hi[1]; total += hi[2]; total += hi[3];
            for (long c = full; c < n; c++) {
                double a = x[i * n + c], b = x[j * n + c];
                if (absolute) { a = __builtin_fabs(a); b = __builtin_fabs(b); }
                total += a * b;
            }
            out[i * p + j] = total;
            out[j * p + i] = total;
        }
    }
    free(lanes);
    free(panel);
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

/// Cyclic Jacobi sweeps, exactly `SmallLinearAlgebra.symmetricEigen`'s arithmetic.
KATTR static void KFN(jacobi)(double *a, double *v, long n) {
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (long i = 0; i < n; i++) {
            diag += a[i * n + i] * a[i * n + i];
            for (long j = i + 1; j < n; j++) off += a[i * n + j] * a[i * n + j];
        }
        if (off <= 1e-30 * (diag > 1e-300 ? diag : 1e-300)) break;
        for (long p = 0; p < n - 1; p++) {
            for (long q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0) continue;
                double app = a[p * n + p], aqq = a[q * n + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (__builtin_fabs(theta) + __builtin_sqrt(theta * theta + 1));
                double c = 1 / __builtin_sqrt(t * t + 1);
                double s = t * c;
                for (long k = 0; k < n; k++) {
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                double *restrict rp = a + p * n, *restrict rq = a + q * n;
                for (long k = 0; k < n; k++) {
                    double apk = rp[k], aqk = rq[k];
                    rp[k] = c * apk - s * aqk;
                    rq[k] = s * apk + c * aqk;
                }
                for (long k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
}

KATTR static float KFN(dot_f32)(const float *a, const float *b, long n) {
    v8f acc0 = 0, acc1 = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 += load8(a + i) * load8(b + i);
        acc1 += load8(a + i + 8) * load8(b + i + 8);
    }
    v8f s = acc0 + acc1;
    float total = -0.0f;
    for (int l = 0; l < 8; l++) total += s[l];
    for (; i < n; i++) total += a[i] * b[i];
    return total;
}

KATTR static void KFN(dot2_f32)(const float *a, const float *b0p, const float *b1p, long n, float *out0, float *out1) {
    v8f p0 = 0, p1 = 0, q0 = 0, q1 = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f a0 = load8(a + i), a1 = load8(a + i + 8);
        p0 += a0 * load8(b0p + i);
        p1 += a1 * load8(b0p + i + 8);
        q0 += a0 * load8(b1p + i);
        q1 += a1 * load8(b1p + i + 8);
    }
    v8f s = p0 + p1, t = q0 + q1;
    float ts = -0.0f, tt = -0.0f;
    for (int l = 0; l < 8; l++) { ts += s[l]; tt += t[l]; }
    for (; i < n; i++) { ts += a[i] * b0p[i]; tt += a[i] * b1p[i]; }
    *out0 = ts;
    *out1 = tt;
}

KATTR static void KFN(pairs_f32)(const float *x, long p, const float *y, long q, long n, int symmetric, float *out) {
    for (long i = 0; i < p; i++) {
        long j = symmetric ? i : 0;
        for (; j + 2 <= q; j += 2) {
            float d0, d1;
            KFN(dot2_f32)(x + i * n, y + j * n, y + (j + 1) * n, n, &d0, &d1);
            out[i * q + j] = d0;
            out[i * q + j + 1] = d1;
            if (symmetric) { out[j * q + i] = d0; out[(j + 1) * q + i] = d1; }
        }
        for (; j < q; j++) {
            float d = KFN(dot_f32)(x + i * n, y + j * n, n);
            out[i * q + j] = d;
            if (symmetric) out[j * q + i] = d;
        }
    }
}

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
