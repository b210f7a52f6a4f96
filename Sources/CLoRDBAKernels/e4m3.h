// E4M3 codes in integer lanes, shared by the kernel bodies (macros for the vector forms, so the
// baseline and AVX2 variants each compile them for their own target). Needs the `v8u`/`v8f`
// types and `bits_of`/`float_of`. The arithmetic of `E4M3.bits(_:)` and `E4M3.float(_:)`.
#ifndef LORDBA_E4M3_H
#define LORDBA_E4M3_H

/// The codes of eight float bit patterns `raw`: nearest value, ties to the even code, saturating
/// to ±448 (∞ too), NaN to 0x7F. At or above 2⁻⁶ three mantissa bits are kept (to nearest, ties
/// to even); below, whole multiples of 2⁻⁹ (adding 2²³ rounds the scaled value, ties to even).
#define E4M3_CODES8(raw) ({                                                                          \
        v8u r_ = (raw), m_ = r_ & 0x7FFFFFFFu;                                                      \
        v8u normal_ = ((m_ + 0x7FFFFu + ((m_ >> 20) & 1u)) >> 20) - (120u << 3);                     \
        v8u steps_ = __builtin_convertvector(((v8f)m_ * 512.0f + 8388608.0f) - 8388608.0f, v8u);     \
        v8u isNormal_ = (v8u)(m_ >= 0x3C800000u), isLarge_ = (v8u)(m_ >= 0x43E00000u);              \
        v8u code_ = (isNormal_ & normal_) | (~isNormal_ & steps_);                                   \
        code_ = ((isLarge_ & 0x7Eu) | (~isLarge_ & code_)) | ((r_ >> 24) & 0x80u);                   \
        v8u isNaN_ = (v8u)(m_ > 0x7F800000u);                                                        \
        (isNaN_ & 0x7Fu) | (~isNaN_ & code_);                                                        \
    })

/// The float bit patterns of eight codes (0x7F and 0xFF: a quiet NaN).
#define E4M3_VALUES8(codes) ({                                                                       \
        v8u c_ = (codes), e_ = c_ & 0x7Fu;                                                           \
        v8u subnormal_ = (v8u)(__builtin_convertvector(e_ & 7u, v8f) * (1.0f / 512));                \
        v8u isSubnormal_ = (v8u)(e_ < 8u), isNaN_ = (v8u)(e_ == 0x7Fu);                              \
        v8u v_ = ((isSubnormal_ & subnormal_) | (~isSubnormal_ & ((e_ + (120u << 3)) << 20)))        \
                 | ((c_ & 0x80u) << 24);                                                             \
        (isNaN_ & 0x7FC00000u) | (~isNaN_ & v_);                                                     \
    })

/// `E4M3_CODES8` for one value.
INL uint8_t e4m3_code1(float value) {
    uint32_t raw = bits_of(value), magnitude = raw & 0x7FFFFFFFu, sign = (raw >> 24) & 0x80u;
    if (magnitude > 0x7F800000u) return 0x7F;
    if (magnitude >= 0x43E00000u) return (uint8_t)(sign | 0x7Eu);
    if (magnitude >= 0x3C800000u)
        return (uint8_t)(sign | ((((magnitude + 0x7FFFFu + ((magnitude >> 20) & 1u)) >> 20) - (120u << 3)) & 0xFFu));
    return (uint8_t)(sign | (uint32_t)((float_of(magnitude) * 512.0f + 8388608.0f) - 8388608.0f));
}

/// `E4M3_VALUES8` for one code.
INL float e4m3_value1(uint8_t code) {
    uint32_t e = code & 0x7Fu, sign = (uint32_t)(code & 0x80u) << 24;
    if (e == 0x7F) return float_of(0x7FC00000u);
    if (e < 8) return float_of(bits_of((float)e * (1.0f / 512)) | sign);
    return float_of(((e + (120u << 3)) << 20) | sign);
}

#endif
