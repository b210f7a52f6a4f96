// Exact dot products, Gram matrices and Jacobi sweeps (their results feed stored bytes), included twice by kernels.c: once as the baseline (SSE2) variant and once
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

/// Four dots (x0|x1 against y0|y1) in one pass, each exactly `dot_f32` (the same lanes and
/// order), sharing every load.
KATTR static void KFN(dot22_f32)(const float *x0, const float *x1, const float *y0, const float *y1, long n, float *out) {
    v8f a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0, d0 = 0, d1 = 0;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        v8f u0 = load8(x0 + i), u1 = load8(x0 + i + 8), w0 = load8(x1 + i), w1 = load8(x1 + i + 8);
        v8f s0 = load8(y0 + i), s1 = load8(y0 + i + 8), t0 = load8(y1 + i), t1 = load8(y1 + i + 8);
        a0 += u0 * s0;
        a1 += u1 * s1;
        b0 += u0 * t0;
        b1 += u1 * t1;
        c0 += w0 * s0;
        c1 += w1 * s1;
        d0 += w0 * t0;
        d1 += w1 * t1;
    }
    v8f sums[4] = {a0 + a1, b0 + b1, c0 + c1, d0 + d1};
    const float *xs[4] = {x0, x0, x1, x1}, *ys[4] = {y0, y1, y0, y1};
    for (int d = 0; d < 4; d++) {
        float total = -0.0f;
        for (int l = 0; l < 8; l++) total += sums[d][l];
        for (long t = i; t < n; t++) total += xs[d][t] * ys[d][t];
        out[d] = total;
    }
}

KATTR static void KFN(pairs_f32_rows)(const float *x, long p, const float *y, long q, long n, int symmetric, float *out,
                                      long rowBegin, long rowEnd) {
    (void)p;
    long i = rowBegin;
    // Pairs of x rows against pairs of y rows (with `symmetric`, x == y and a product is the same
    // either way round, so the (i+1, i) entry of a diagonal tile is the mirror's value).
    for (; i + 2 <= rowEnd; i += 2) {
        long j = symmetric ? i : 0;
        for (; j + 2 <= q; j += 2) {
            float d[4];
            KFN(dot22_f32)(x + i * n, x + (i + 1) * n, y + j * n, y + (j + 1) * n, n, d);
            out[i * q + j] = d[0];
            out[i * q + j + 1] = d[1];
            out[(i + 1) * q + j] = d[2];
            out[(i + 1) * q + j + 1] = d[3];
            if (symmetric) {
                out[j * q + i] = d[0];
                out[(j + 1) * q + i] = d[1];
                out[j * q + i + 1] = d[2];
                out[(j + 1) * q + i + 1] = d[3];
            }
        }
        for (; j < q; j++) {
            for (long r = i; r < i + 2; r++) {
                float d = KFN(dot_f32)(x + r * n, y + j * n, n);
                out[r * q + j] = d;
                if (symmetric) out[j * q + r] = d;
            }
        }
    }
    for (; i < rowEnd; i++) {
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

KATTR static void KFN(pairs_f32)(const float *x, long p, const float *y, long q, long n, int symmetric, float *out) {
    KFN(pairs_f32_rows)(x, p, y, q, n, symmetric, out, 0, p);
}
