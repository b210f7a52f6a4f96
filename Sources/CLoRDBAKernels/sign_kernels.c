// Sign-GEMM kernels with run-time CPU dispatch; see include/lordba_kernels.h.
#include "lordba_kernels.h"

#include <stdlib.h>
#include <string.h>

#pragma clang fp contract(off)

typedef float v8f __attribute__((ext_vector_type(8)));
typedef uint32_t v8u __attribute__((ext_vector_type(8)));

#include "transpose8.h"

#define load8(p) ({ v8f v_; memcpy(&v_, (p), sizeof v_); v_; })
#define load8u(p) ({ v8u v_; memcpy(&v_, (p), sizeof v_); v_; })
#define store8(p, v) do { v8f v_ = (v); memcpy((p), &v_, sizeof v_); } while (0)
/// `x` (float bit patterns) with the sign of each lane flipped where `m` has bit 31 set.
#define FLIP(x, m) ((v8f)((x) ^ (m)))
/// Lanes summed in order from −0, as Swift's `SIMD8.sum()`.
#define HSUM8(a) ({ v8f a_ = (a); float s_ = -0.0f; for (int l_ = 0; l_ < 8; l_++) s_ += a_[l_]; s_; })

/// Byte → the XOR masks of its 8 bits (bit b set: lane b gets 0x80000000).
static v8u sign_lut[256] __attribute__((aligned(64)));

__attribute__((constructor)) static void lordba_build_sign_lut(void) {
    for (int byte = 0; byte < 256; byte++)
        for (int lane = 0; lane < 8; lane++) sign_lut[byte][lane] = (byte >> lane) & 1 ? 0x80000000u : 0;
}

#define KATTR
#define KFN(name) name##_base
#include "sign_body.h"
#undef KATTR
#undef KFN

#if defined(__x86_64__) || defined(__i386__)
#define KATTR __attribute__((target("avx2,fma,f16c")))
#define KFN(name) name##_avx2
#include "sign_body.h"
#undef KATTR
#undef KFN
#define AVX2(name) name##_avx2
#else
#define AVX2(name) name##_base
#endif

#define PICK(name) (lordba_cpu_path() == LORDBA_PATH_AVX2 ? AVX2(name) : name##_base)

void lordba_sign_down(const float *x, long stride, long tokens, long inFeatures, const uint8_t *signA, long rowBytes,
                      long j0, long j1, const float *middle, float *z, long zStride, float *tail, long tileChunks, int wide) {
    PICK(sign_down)(x, stride, tokens, inFeatures, signA, rowBytes, j0, j1, middle, z, zStride, tail, tileChunks, wide);
}

void lordba_sign_up(const float *z, long zStride, long tokens, long k, const uint64_t *signB, long wordsPerRow,
                    long outFeatures, long w0, long w1, const float *scale, float *y, long yStride, float *tail, int wide) {
    PICK(sign_up)(z, zStride, tokens, k, signB, wordsPerRow, outFeatures, w0, w1, scale, y, yStride, tail, wide);
}

void lordba_sign_down_table8(const float *x, long stride, long inFeatures, const float *inputScale, const uint8_t *signA,
                             long rowBytes, long k, const float *middle, float *zT, float *tables, float *tail,
                             long tileChunks) {
    PICK(down_table8)(x, stride, inFeatures, inputScale, signA, rowBytes, k, middle, zT, tables, tail, tileChunks);
}

void lordba_sign_build_tables(const float *zT, long k, float *tables) { PICK(build_tables)(zT, k, tables); }

void lordba_sign_up_table8(const float *tables, long groups, const uint8_t *columns, long outFeatures,
                           const float *scale, float *y, long yStride, float *tail) {
    PICK(up_table8)(tables, groups, columns, outFeatures, scale, y, yStride, tail);
}
