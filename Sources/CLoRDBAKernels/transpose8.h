// The 8 × 8 transpose of eight `v8f` rows in registers, shared by the kernel bodies (a macro, so
// the baseline and AVX2 variants each compile it for their own target). Needs the `v8f` type.
#ifndef LORDBA_TRANSPOSE8_H
#define LORDBA_TRANSPOSE8_H

/// Interleaves within 128-bit halves (`unpcklps` / `unpckhps`).
#define T8_LO(a, b) __builtin_shufflevector((a), (b), 0, 8, 1, 9, 4, 12, 5, 13)
#define T8_HI(a, b) __builtin_shufflevector((a), (b), 2, 10, 3, 11, 6, 14, 7, 15)
/// Pairs of lanes from each half (`shufps` 0x44 / 0xEE).
#define T8_PAIRS_LO(a, b) __builtin_shufflevector((a), (b), 0, 1, 8, 9, 4, 5, 12, 13)
#define T8_PAIRS_HI(a, b) __builtin_shufflevector((a), (b), 2, 3, 10, 11, 6, 7, 14, 15)
/// Low halves or high halves of both (`vperm2f128` 0x20 / 0x31).
#define T8_HALVES_LO(a, b) __builtin_shufflevector((a), (b), 0, 1, 2, 3, 8, 9, 10, 11)
#define T8_HALVES_HI(a, b) __builtin_shufflevector((a), (b), 4, 5, 6, 7, 12, 13, 14, 15)

/// `out[i]` = column i of the rows `r0 … r7`: interleave pairs of rows, then pairs of pairs
/// (both within 128-bit halves), then swap halves: 24 shuffles, each one instruction with AVX.
#define TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7, out) do {                                          \
        v8f a0_ = T8_LO(r0, r1), a1_ = T8_HI(r0, r1), a2_ = T8_LO(r2, r3), a3_ = T8_HI(r2, r3);        \
        v8f a4_ = T8_LO(r4, r5), a5_ = T8_HI(r4, r5), a6_ = T8_LO(r6, r7), a7_ = T8_HI(r6, r7);        \
        v8f b0_ = T8_PAIRS_LO(a0_, a2_), b1_ = T8_PAIRS_HI(a0_, a2_);                                  \
        v8f b2_ = T8_PAIRS_LO(a1_, a3_), b3_ = T8_PAIRS_HI(a1_, a3_);                                  \
        v8f b4_ = T8_PAIRS_LO(a4_, a6_), b5_ = T8_PAIRS_HI(a4_, a6_);                                  \
        v8f b6_ = T8_PAIRS_LO(a5_, a7_), b7_ = T8_PAIRS_HI(a5_, a7_);                                  \
        (out)[0] = T8_HALVES_LO(b0_, b4_); (out)[4] = T8_HALVES_HI(b0_, b4_);                          \
        (out)[1] = T8_HALVES_LO(b1_, b5_); (out)[5] = T8_HALVES_HI(b1_, b5_);                          \
        (out)[2] = T8_HALVES_LO(b2_, b6_); (out)[6] = T8_HALVES_HI(b2_, b6_);                          \
        (out)[3] = T8_HALVES_LO(b3_, b7_); (out)[7] = T8_HALVES_HI(b3_, b7_);                          \
    } while (0)

#endif
