// The 8 × 8 transpose of eight `v8f` rows in registers, shared by the kernel bodies (a macro, so
// the baseline and AVX2 variants each compile it for their own target). Needs the `v8f` type.
#ifndef LORDBA_TRANSPOSE8_H
#define LORDBA_TRANSPOSE8_H

#define EVEN(a, b) __builtin_shufflevector((a), (b), 0, 2, 4, 6, 8, 10, 12, 14)
#define ODD(a, b) __builtin_shufflevector((a), (b), 1, 3, 5, 7, 9, 11, 13, 15)

/// `out[i]` = column i of the rows `r0 … r7` (three rounds of even/odd interleaves).
#define TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7, out) do {                                          \
        v8f a0_ = EVEN(r0, r1), a1_ = EVEN(r2, r3), a2_ = EVEN(r4, r5), a3_ = EVEN(r6, r7);            \
        v8f a4_ = ODD(r0, r1), a5_ = ODD(r2, r3), a6_ = ODD(r4, r5), a7_ = ODD(r6, r7);                \
        v8f b0_ = EVEN(a0_, a1_), b1_ = EVEN(a2_, a3_), b2_ = EVEN(a4_, a5_), b3_ = EVEN(a6_, a7_);    \
        v8f b4_ = ODD(a0_, a1_), b5_ = ODD(a2_, a3_), b6_ = ODD(a4_, a5_), b7_ = ODD(a6_, a7_);        \
        (out)[0] = EVEN(b0_, b1_); (out)[1] = EVEN(b2_, b3_); (out)[2] = EVEN(b4_, b5_);               \
        (out)[3] = EVEN(b6_, b7_); (out)[4] = ODD(b0_, b1_); (out)[5] = ODD(b2_, b3_);                 \
        (out)[6] = ODD(b4_, b5_); (out)[7] = ODD(b6_, b7_);                                            \
    } while (0)

#endif
