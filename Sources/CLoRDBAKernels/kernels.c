// Conversion-path kernels with run-time CPU dispatch; see include/lordba_kernels.h.
#include "lordba_kernels.h"

#include <stdlib.h>
#include <string.h>
#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LORDBA_X86 1
#endif

// Products are rounded and added separately on every path, so the paths agree bit for bit.
#pragma clang fp contract(off)

typedef float v8f __attribute__((ext_vector_type(8)));
typedef float v4f __attribute__((ext_vector_type(4)));
typedef double v8d __attribute__((ext_vector_type(8)));
typedef double v4d __attribute__((ext_vector_type(4)));
typedef uint32_t v8u __attribute__((ext_vector_type(8)));
typedef uint16_t v8h __attribute__((ext_vector_type(8)));
typedef uint32_t v4u __attribute__((ext_vector_type(4)));
typedef uint8_t v8b __attribute__((ext_vector_type(8)));

#define PANEL 64
#define INL static inline __attribute__((always_inline))

// Vector helpers are macros: a function passing 256-bit vectors could not be shared by the
// baseline and the AVX2 variants (their vector ABIs differ).
#include "transpose8.h"

#define load8(p) ({ v8f v_; memcpy(&v_, (p), sizeof v_); v_; })
#define load4(p) ({ v4f v_; memcpy(&v_, (p), sizeof v_); v_; })
#define load4d(p) ({ v4d v_; memcpy(&v_, (p), sizeof v_); v_; })
#define load8h(p) ({ v8h v_; memcpy(&v_, (p), sizeof v_); v_; })
#define store8(p, v) do { v8f v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
#define store8d(p, v) do { v8d v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
#define store4d(p, v) do { v4d v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
#define fabs8(x) ((v8f)((v8u)(x) & 0x7FFFFFFFu))
#define fabs4(x) ((v4f)((v4u)(x) & 0x7FFFFFFFu))
#define sum4(a) ({ v4d a_ = (a); (a_[0] + a_[1]) + (a_[2] + a_[3]); })
INL uint16_t load_u16(const uint16_t *p) { uint16_t v; memcpy(&v, p, sizeof v); return v; }
INL uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
INL float float_of(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
#include "e4m3.h"

static float *calloc_floats(size_t n) {
    float *p = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
    if (!p) abort();
    memset(p, 0, n * sizeof(float));
    return p;
}

static double *calloc_doubles(size_t n) {
    double *p = aligned_alloc(64, ((n * sizeof(double)) + 63) & ~(size_t)63);
    if (!p) abort();
    memset(p, 0, n * sizeof(double));
    return p;
}

static v4d *calloc_v4d(size_t n) {
    v4d *p = aligned_alloc(64, ((n * sizeof(v4d)) + 63) & ~(size_t)63);
    if (!p) abort();
    memset(p, 0, n * sizeof(v4d));
    return p;
}

// MARK: half floats (exact for every bit pattern)

/// IEEE half → float by exponent rebias, with subnormals renormalised by one float subtraction;
/// the same bits as F16C's conversion for every pattern (NaNs quieted, payload kept).
INL void half_to_float8(const uint16_t *src, float *dst) {
    v8h h = load8h(src);
    v8u w = __builtin_convertvector(h, v8u);
    v8u o = (w & 0x7FFFu) << 13;
    v8u exp = o & (0x7C00u << 13);
    o += (127u - 15u) << 23;
    v8u isSpecial = (v8u)(exp == (0x7C00u << 13));
    v8u isSmall = (v8u)(exp == 0);
    o += isSpecial & ((128u - 16u) << 23);
    v8u small = (v8u)((v8f)(o + (1u << 23)) - (v8f)float_of(113u << 23));
    o = (isSmall & small) | (~isSmall & o);
    // NaNs come out quiet (as F16C and Swift's Float(Float16) make them).
    o |= (v8u)((w & 0x7FFFu) > 0x7C00u) & 0x00400000u;
    store8(dst, (v8f)(o | ((w & 0x8000u) << 16)));
}

INL float half_to_float1(uint16_t h) {
    uint32_t o = (uint32_t)(h & 0x7FFF) << 13;
    uint32_t exp = o & (0x7C00u << 13);
    o += (127u - 15u) << 23;
    if (exp == (0x7C00u << 13)) { o += (128u - 16u) << 23; if (h & 0x3FF) o |= 0x00400000u; }
    else if (exp == 0) o = bits_of(float_of(o + (1u << 23)) - float_of(113u << 23));
    return float_of(o | ((uint32_t)(h & 0x8000) << 16));
}

// MARK: the two variants

#define KATTR
#define KFN(name) name##_base
#ifdef LORDBA_X86
#define MASK8(m) ({ v8u m_ = (m); __m128 lo_, hi_; memcpy(&lo_, &m_, 16); memcpy(&hi_, (char *)&m_ + 16, 16); \
                    _mm_movemask_ps(lo_) | (_mm_movemask_ps(hi_) << 4); })
#endif
#include "exact_body.h"
#include "layout_body.h"
#include "report_body.h"
#include "refine_body.h"
static void decode_f16_base(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) half_to_float8(src + i, dst + i);
    for (; i < n; i++) dst[i] = half_to_float1(load_u16(src + i));
}

/// Packs the signs of `rows` rows of `cols` floats into 64-bit words (bit set when the value
/// is below zero; padding bits zero), `wpr` words per row.
static void pack_signs_base(const float *src, long rows, long cols, uint64_t *dst, long wpr) {
    for (long r = 0; r < rows; r++) {
        const float *row = src + r * cols;
        for (long w = 0; w < wpr; w++) {
            uint64_t word = 0;
            long start = w * 64, end = start + 64 < cols ? start + 64 : cols;
            long c = start;
#ifdef LORDBA_X86
            const __m128 zero = _mm_setzero_ps();
            for (; c + 4 <= end; c += 4)
                word |= (uint64_t)_mm_movemask_ps(_mm_cmplt_ps(_mm_loadu_ps(row + c), zero)) << (c - start);
#endif
            for (; c < end; c++) word |= (uint64_t)(row[c] < 0) << (c - start);
            dst[r * wpr + w] = word;
        }
    }
}
#undef KATTR
#undef KFN
#undef MASK8

#ifdef LORDBA_X86
#define KATTR __attribute__((target("avx2,fma,f16c")))
#define KFN(name) name##_avx2
#define MASK8(m) ({ v8u m_ = (m); __m256 v_; memcpy(&v_, &m_, 32); _mm256_movemask_ps(v_); })
#include "exact_body.h"
#include "layout_body.h"
#include "report_body.h"
#include "refine_body.h"
KATTR static void decode_f16_avx2(const uint16_t *src, float *dst, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h;
        memcpy(&h, src + i, sizeof h);
        __m256 f = _mm256_cvtph_ps(h);
        memcpy(dst + i, &f, sizeof f);
    }
    for (; i < n; i++) dst[i] = half_to_float1(load_u16(src + i));
}

KATTR static void pack_signs_avx2(const float *src, long rows, long cols, uint64_t *dst, long wpr) {
    const __m256 zero = _mm256_setzero_ps();
    for (long r = 0; r < rows; r++) {
        const float *row = src + r * cols;
        for (long w = 0; w < wpr; w++) {
            uint64_t word = 0;
            long start = w * 64, end = start + 64 < cols ? start + 64 : cols;
            long c = start;
            for (; c + 8 <= end; c += 8)
                word |= (uint64_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + c), zero, _CMP_LT_OQ)) << (c - start);
            for (; c < end; c++) word |= (uint64_t)(row[c] < 0) << (c - start);
            dst[r * wpr + w] = word;
        }
    }
}
#undef KATTR
#undef KFN
#endif

// MARK: dispatch

typedef struct {
    double (*dot_f64)(const float *, const float *, long, int);
    void (*pairs_f64)(const float *, long, const float *, long, long, int, int, double *);
    float (*dot_f32)(const float *, const float *, long);
    void (*pairs_f32)(const float *, long, const float *, long, long, int, float *);
    void (*weighted_abs_colsum)(const float *, long, long, const double *, double *);
    double (*rank1_residual)(const float *, long, long, const float *, const float *);
    double (*side_stats)(const float *, long, long, long, const uint64_t *, long, const float *, const float *,
                         long, long, const double *, int, double *, double *, double *);
    void (*decode_f16)(const uint16_t *, float *, long);
    void (*decode_bf16)(const uint16_t *, float *, long);
    void (*gram_f64)(const float *, long, long, int, double *);
    double (*largest_eigenvalue)(const double *, long);
    void (*jacobi)(double *, double *, long);
    void (*pack_signs)(const float *, long, long, uint64_t *, long);
    void (*transpose)(const float *, long, long, float *);
    void (*combine)(const float *, long, const float *, long, long, long, float *);
    long (*sign_descent)(float *, float *, int, const float *, const float *, const float *, long, long, long, int, float);
    void (*pairs_f32_rows)(const float *, long, const float *, long, long, int, float *, long, long);
    void (*round_f16)(const float *, float *, long, float);
    void (*round_e4m3)(const float *, float *, long, float);
    void (*encode_e4m3)(const float *, uint8_t *, long);
} kernel_table;

#define TABLE(sfx) { dot_f64_##sfx, pairs_f64_##sfx, dot_f32_##sfx, pairs_f32_##sfx, weighted_abs_colsum_##sfx, \
                     rank1_residual_##sfx, side_stats_##sfx, decode_f16_##sfx, decode_bf16_##sfx, gram_f64_##sfx, \
                     largest_eigenvalue_##sfx, jacobi_##sfx, pack_signs_##sfx, transpose_##sfx, combine_##sfx, \
                     sign_descent_##sfx, pairs_f32_rows_##sfx, round_f16_##sfx, \
                     round_e4m3_##sfx, encode_e4m3_##sfx }

static const kernel_table base_table = TABLE(base);
#ifdef LORDBA_X86
static const kernel_table avx2_table = TABLE(avx2);
#endif

static const kernel_table *active = &base_table;
static lordba_path active_path = LORDBA_PATH_SSE2;

int lordba_cpu_supports(lordba_path path) {
    if (path == LORDBA_PATH_SSE2) return 1;
#ifdef LORDBA_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

int lordba_set_cpu_path(lordba_path path) {
    if (!lordba_cpu_supports(path)) return 0;
#ifdef LORDBA_X86
    active = path == LORDBA_PATH_AVX2 ? &avx2_table : &base_table;
#endif
    active_path = path;
    return 1;
}

lordba_path lordba_cpu_path(void) { return active_path; }

/// Chosen before `main`: `LORDBA_CPU=sse2|avx2` forces a path, otherwise the best supported.
__attribute__((constructor)) static void lordba_choose_path(void) {
    const char *forced = getenv("LORDBA_CPU");
    if (forced && strcmp(forced, "sse2") == 0) { lordba_set_cpu_path(LORDBA_PATH_SSE2); return; }
    if (forced && strcmp(forced, "avx2") == 0 && lordba_set_cpu_path(LORDBA_PATH_AVX2)) return;
    if (!lordba_set_cpu_path(LORDBA_PATH_AVX2)) lordba_set_cpu_path(LORDBA_PATH_SSE2);
}

// MARK: public entry points

double lordba_dot_f64(const float *a, const float *b, long n, int absolute) { return active->dot_f64(a, b, n, absolute); }
void lordba_pairs_f64(const float *x, long p, const float *y, long q, long n, int symmetric, int absolute, double *out) {
    if (symmetric && x == y && p == q) active->gram_f64(x, p, n, absolute, out);
    else active->pairs_f64(x, p, y, q, n, symmetric, absolute, out);
}
double lordba_largest_eigenvalue(const double *g, long n) { return active->largest_eigenvalue(g, n); }
void lordba_jacobi(double *a, double *v, long n) { active->jacobi(a, v, n); }
float lordba_dot_f32(const float *a, const float *b, long n) { return active->dot_f32(a, b, n); }
void lordba_pairs_f32(const float *x, long p, const float *y, long q, long n, int symmetric, float *out) {
    active->pairs_f32(x, p, y, q, n, symmetric, out);
}
void lordba_weighted_abs_colsum(const float *m, long p, long n, const double *u, double *v) {
    active->weighted_abs_colsum(m, p, n, u, v);
}
double lordba_rank1_residual(const float *m, long p, long n, const float *u, const float *v) {
    return active->rank1_residual(m, p, n, u, v);
}
double lordba_side_stats(const float *x, long xrs, long xcs, long p, const uint64_t *signs, long wpr,
                         const float *rowScale, const float *colScale, long q, long n, const double *g, int exact,
                         double *gxx, double *gyy, double *gxy) {
    return active->side_stats(x, xrs, xcs, p, signs, wpr, rowScale, colScale, q, n, g, exact, gxx, gyy, gxy);
}
void lordba_decode_f16(const void *src, float *dst, long n) { active->decode_f16((const uint16_t *)src, dst, n); }
void lordba_decode_bf16(const void *src, float *dst, long n) { active->decode_bf16((const uint16_t *)src, dst, n); }
void lordba_pack_signs(const float *src, long rows, long cols, uint64_t *dst, long wpr) {
    active->pack_signs(src, rows, cols, dst, wpr);
}
void lordba_transpose(const float *src, long rows, long cols, float *dst) { active->transpose(src, rows, cols, dst); }
void lordba_combine(const float *c, long p, const float *x, long q, long n, long stride, float *out) {
    active->combine(c, p, x, q, n, stride, out);
}
long lordba_sign_descent(float *signs, float *scales, int fixedScales, const float *gram, const float *cross,
                         const float *product, long k, long n, long stride, int maximumSweeps, float threshold) {
    return active->sign_descent(signs, scales, fixedScales, gram, cross, product, k, n, stride, maximumSweeps, threshold);
}
void lordba_round_f16(const float *src, float *dst, long n, float divisor) { active->round_f16(src, dst, n, divisor); }
void lordba_round_e4m3(const float *src, float *dst, long n, float divisor) { active->round_e4m3(src, dst, n, divisor); }
void lordba_encode_e4m3(const float *src, uint8_t *dst, long n) { active->encode_e4m3(src, dst, n); }
void lordba_pairs_f32_rows(const float *x, long p, const float *y, long q, long n, int symmetric, float *out,
                           long rowBegin, long rowEnd) {
    active->pairs_f32_rows(x, p, y, q, n, symmetric, out, rowBegin, rowEnd);
}

float lordba_abs_peak(const float *x, long n) {
    // Per lane: keep the larger; a NaN never compares larger, so it is skipped.
    v4f m0 = 0, m1 = 0;
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v4f a = fabs4(load4(x + i)), b = fabs4(load4(x + i + 4));
        m0 = a > m0 ? a : m0;
        m1 = b > m1 ? b : m1;
    }
    float m = 0;
    for (int l = 0; l < 4; l++) {
        m = m0[l] > m ? m0[l] : m;
        m = m1[l] > m ? m1[l] : m;
    }
    for (; i < n; i++) {
        float a = __builtin_fabsf(x[i]);
        m = a > m ? a : m;
    }
    return m;
}
