/// Hot numeric kernels of the conversion path in C, each compiled twice — for baseline x86-64
/// (SSE2) and for AVX2 + FMA + F16C — with the variant chosen once at start-up by
/// `__builtin_cpu_supports`, or forced with the environment variable `LORDBA_CPU=sse2|avx2`.
///
/// Both variants perform the same operations in the same order (no FMA contraction, the same
/// lane structure), so every result is bit-identical across paths: the AVX2 variant only runs
/// the lanes wider.
#ifndef LORDBA_KERNELS_H
#define LORDBA_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The instruction-set path in use.
typedef enum { LORDBA_PATH_SSE2 = 0, LORDBA_PATH_AVX2 = 1 } lordba_path;

/// The path chosen at start-up (`LORDBA_CPU`, else the best the CPU supports).
lordba_path lordba_cpu_path(void);
/// Whether this CPU can run `path`.
int lordba_cpu_supports(lordba_path path);
/// Switches path (tests and benchmarks); returns 0 when the CPU cannot run it (nothing changes).
int lordba_set_cpu_path(lordba_path path);

/// `Σ a[i]·b[i]` in double: 16 double lanes over blocks of 16 (lane l takes i ≡ l mod 16),
/// lanes summed as (l, l+8) pairs in order, then the tail — exactly `SmallLinearAlgebra.dot`.
/// With `absolute`, `|a[i]|·|b[i]|`.
double lordba_dot_f64(const float *a, const float *b, long n, int absolute);
/// `out[i*q + j] = dot(x_i, y_j)` for p rows of x and q rows of y (row length n, row stride n),
/// each by `lordba_dot_f64`; with `symmetric` (x == y, p == q) each pair once, mirrored.
void lordba_pairs_f64(const float *x, long p, const float *y, long q, long n, int symmetric,
                      int absolute, double *out);
/// The largest eigenvalue of a symmetric positive semi-definite `n × n` matrix, to 2e-7
/// relative (repeated squaring and a Rayleigh quotient; for report figures).
double lordba_largest_eigenvalue(const double *g, long n);
/// Cyclic Jacobi sweeps on `a` rotating `v` alike — the arithmetic of
/// `SmallLinearAlgebra.symmetricEigen`, bit for bit.
void lordba_jacobi(double *a, double *v, long n);
/// `Σ a[i]·b[i]` in float, 16 float lanes, products rounded then added — `dotFloat`.
float lordba_dot_f32(const float *a, const float *b, long n);
/// Pairwise `lordba_dot_f32`, like `lordba_pairs_f64`.
void lordba_pairs_f32(const float *x, long p, const float *y, long q, long n, int symmetric, float *out);
/// The part of `lordba_pairs_f32` for x rows `rowBegin ..< rowEnd` (`rowBegin` even), so that
/// row ranges can run in parallel; the entries written are the same, with the same values.
void lordba_pairs_f32_rows(const float *x, long p, const float *y, long q, long n, int symmetric, float *out,
                           long rowBegin, long rowEnd);

/// `v[j] = Σ_i u[i]·|m[i*n + j]|` in double, rows in order (rows with `u[i] == 0` skipped).
void lordba_weighted_abs_colsum(const float *m, long p, long n, const double *u, double *v);
/// `Σ_ij (|m_ij| − (float)(u[i]·v[j]))²` in double (lanes; report figure).
double lordba_rank1_residual(const float *m, long p, long n, const float *u, const float *v);

/// One side of a low-rank comparison, over `n` columns (report figures, not stored bytes).
///
/// X has `p` rows, entry (i, c) at `x[i*xrs + c*xcs]` (so a `[n, p]` matrix is read as its
/// transpose without forming it). Y has `q` rows of ±scales: Y(j, c) = ±(rowScale[j]·colScale[c])
/// (a NULL scale counts as 1), negative where bit c of sign row j (`signs + j*wpr`) is set.
/// Writes gxx (p×p) = X·Xᵀ, gyy (q×q) = Y·Yᵀ, gxy (p×q) = X·Yᵀ in double; when `g` is given
/// (p == q) also returns `Σ (X(i,c) − (float)((double)Y(i,c)·g[i]))²`, else 0.
///
/// With `exact`, products of the float entries are exact in double and summed in double (4
/// lanes), 64 columns at a time. Otherwise (twice the lanes) X and Y are scaled by powers of two
/// to at most 2 in magnitude, products are rounded to float and summed in float over each
/// 128-column block (16 terms per lane, so each block sum is within 17u = 1.0e-6 of its terms'
/// magnitudes), and the block sums are added in double. The product error is a difference of
/// such sums, so a small error needs `exact` (ErrorAnalysis decides).
double lordba_side_stats(const float *x, long xrs, long xcs, long p,
                         const uint64_t *signs, long wpr, const float *rowScale, const float *colScale, long q,
                         long n, const double *g, int exact, double *gxx, double *gyy, double *gxy);

/// `out` (`p × n`) = `c` (`p × q`, row-major) · `x` (`q × n`) in float: each output element
/// `((0 + c_j0·x_0) + c_j1·x_1) + …` in order — `SmallLinearAlgebra.combine`. Rows of `x` and
/// `out` are `stride` floats apart (so a range of columns can be computed on its own).
void lordba_combine(const float *c, long p, const float *x, long q, long n, long stride, float *out);
/// The binary coordinate descent of `SignDescent.descend` over the `n` columns of `signs`
/// (`[k, n]`, ±1, updated) with `scales` (`n`, updated unless `fixedScales`), `gram` (`k × k`),
/// `cross` and `product` (= gram·signs, both `[k, n]`); eight columns per step in SIMD lanes,
/// each lane the scalar algorithm. `threshold` is the free-scale acceptance factor. Rows of the
/// `[k, n]` arrays are `stride` floats apart (columns are independent, so ranges of them can run
/// in parallel). Returns the number of flips.
long lordba_sign_descent(float *signs, float *scales, int fixedScales, const float *gram, const float *cross,
                         const float *product, long k, long n, long stride, int maximumSweeps, float threshold);

/// `dst[i] = (float)(half)(src[i] / divisor)` with round to nearest even (the stored f16 scales),
/// bit-identical to Swift's `Float(Float16(src[i] / divisor))` on every path.
void lordba_round_f16(const float *src, float *dst, long n, float divisor);
/// `dst[i] = (float)E4M3(src[i] / divisor)`: nearest E4M3 value, ties to even, saturating to
/// ±448 (∞ too), NaN to a quiet NaN — `E4M3.float(E4M3.bits(_:))` bit for bit.
void lordba_round_e4m3(const float *src, float *dst, long n, float divisor);
/// `dst[i]` = the E4M3 code of `src[i]` (nearest, ties to the even code, saturating to ±448, NaN
/// to 0x7F) — `E4M3.bits(_:)` bit for bit.
void lordba_encode_e4m3(const float *src, uint8_t *dst, long n);

/// Sign bits of `rows` rows of `cols` floats, 64 per word (bit set when the value is below
/// zero, so 0 and −0 are +1; padding bits zero), `wpr` words per row.
void lordba_pack_signs(const float *src, long rows, long cols, uint64_t *dst, long wpr);
/// `dst` (`cols × rows`) = the transpose of `src` (`rows × cols`).
void lordba_transpose(const float *src, long rows, long cols, float *dst);
/// The largest |value| of `n` floats, skipping NaN (0 when there is none): a max is exact in
/// any order, so the result does not depend on the vector width (not dispatched).
float lordba_abs_peak(const float *x, long n);

/// IEEE half → float, exact (F16C on the AVX2 path, a table otherwise).
void lordba_decode_f16(const void *src, float *dst, long n);
/// bfloat16 → float, exact.
void lordba_decode_bf16(const void *src, float *dst, long n);

// MARK: sign GEMM (Runtime/SignKernel.swift describes the tiles; callers check every bound)

/// Step 1 for `tokens` ≤ 4 rows of `x`: `z[t·zStride + j] = middle[j]·Σ_i S_A[j, i]·x[t, i]` for
/// `j` in `[j0, j1)`; `tail` is scratch for 32 floats; `wide` picks the 4 × 2 / 1 × 4 tiles.
void lordba_sign_down(const float *x, long stride, long tokens, long inFeatures, const uint8_t *signA, long rowBytes,
                      long j0, long j1, const float *middle, float *z, long zStride, float *tail, long tileChunks, int wide);
/// Step 1 for 8 rows of `x` by 4-bit tables: `zT[8j + t] = middle[j]·Σ_i S_A[j, i]·a[i]·x[t, i]` for
/// all `k` channels, `a` = `inputScale` (nil: all ones), multiplied in as `x` is loaded;
/// `tables` is scratch for 32·tileChunks vectors of 8 floats, `tail` for 64 floats.
void lordba_sign_down_table8(const float *x, long stride, long inFeatures, const float *inputScale, const uint8_t *signA,
                             long rowBytes, long k, const float *middle, float *zT, float *tables, float *tail,
                             long tileChunks);
/// Step 2 by XOR for `tokens` ≤ 4 and sign words `[w0, w1)`; `tail` is scratch for 128 floats.
void lordba_sign_up(const float *z, long zStride, long tokens, long k, const uint64_t *signB, long wordsPerRow,
                    long outFeatures, long w0, long w1, const float *scale, float *y, long yStride, float *tail, int wide);
/// Step 2 tables for 8 tokens: `zT` holds k vectors of 8 floats; `tables` 256 vectors per group of 8 channels.
void lordba_sign_build_tables(const float *zT, long k, float *tables);
/// Step 2 by tables for 8 tokens; `tail` is scratch for 8 vectors of 8 floats.
void lordba_sign_up_table8(const float *tables, long groups, const uint8_t *columns, long outFeatures,
                           const float *scale, float *y, long yStride, float *tail);

#ifdef __cplusplus
}
#endif
#endif
