/// The sign-GEMM micro-kernels over raw pointers. Callers (``SignGEMM``) check every bound;
/// nothing here is public.
///
/// Both steps accumulate `±v` by XOR-ing a sign mask into `v`'s bit pattern and adding:
///
/// * step 1 (`down…`): `z[t, j] = Σ_i S_A[j, i] · x[t, i]` over the long inner dimension `in`,
///   eight columns per SIMD lane group, one table load per eight sign bits;
/// * step 2 (`up…`): `y[t, o] += b[o] · Σ_j S_B[j, o] · z[t, j]`, eight outputs per lane group,
///   `z[t, j]` broadcast to all lanes.
///
/// Register tiles: step 1 keeps 4 tokens × 2 sign channels (8 accumulators) so every loaded
/// mask is used 4 times and every loaded input 2 times; step 2 keeps 4 tokens × 16 outputs.
/// Single tokens (decode) use 1 × 4 channels and 1 × 64 outputs.
enum SignKernel {
    typealias Lanes = SIMD8<Float>
    typealias Bits = SIMD8<UInt32>

    // MARK: - Primitives

    @inline(__always)
    static func bits(_ p: UnsafePointer<Float>) -> Bits {
        UnsafeRawPointer(p).loadUnaligned(as: Bits.self)
    }

    @inline(__always)
    static func lanes(_ p: UnsafePointer<Float>) -> Lanes {
        UnsafeRawPointer(p).loadUnaligned(as: Lanes.self)
    }

    @inline(__always)
    static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self)
    }

    /// `x` with the sign of each lane flipped where `mask` has bit 31 set.
    @inline(__always)
    static func flip(_ x: Bits, _ mask: Bits) -> Lanes {
        unsafeBitCast(x ^ mask, to: Lanes.self)
    }

    /// The XOR mask of byte `byte` (0…7) of a sign word.
    @inline(__always)
    static func mask(_ lut: UnsafePointer<Bits>, _ word: UInt64, _ byte: Int) -> Bits {
        lut[Int(truncatingIfNeeded: word &>> UInt64(truncatingIfNeeded: byte &* 8)) & 0xFF]
    }

    @inline(__always)
    static func splat(_ value: Float) -> Bits {
        Bits(repeating: value.bitPattern)
    }

    // MARK: - Step 1 tiles (64 columns per sign word)

    /// Sums of `±x` over `words` × 64 columns for 4 rows of `x` (`stride` apart) and the sign
    /// rows `s0`, `s1`; lanes are (t0,j0), (t0,j1), (t1,j0), (t1,j1), … (t3,j1).
    @inline(__always)
    static func down4x2(_ x: UnsafePointer<Float>, _ stride: Int, _ s0: UnsafePointer<UInt64>,
                        _ s1: UnsafePointer<UInt64>, _ words: Int, _ lut: UnsafePointer<Bits>) -> SIMD8<Float> {
        var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes()
        var a20 = Lanes(), a21 = Lanes(), a30 = Lanes(), a31 = Lanes()
        var p = x
        for w in 0..<words {
            let w0 = s0[w], w1 = s1[w]
            for b in 0..<8 {
                let m0 = mask(lut, w0, b), m1 = mask(lut, w1, b)
                let q = p + b &* 8
                let x0 = bits(q), x1 = bits(q + stride), x2 = bits(q + 2 &* stride), x3 = bits(q + 3 &* stride)
                a00 += flip(x0, m0); a01 += flip(x0, m1)
                a10 += flip(x1, m0); a11 += flip(x1, m1)
                a20 += flip(x2, m0); a21 += flip(x2, m1)
                a30 += flip(x3, m0); a31 += flip(x3, m1)
            }
            p += 64
        }
        return SIMD8(a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
    }

    /// As ``down4x2(_:_:_:_:_:_:)`` for one sign row; lanes t0…t3.
    @inline(__always)
    static func down4x1(_ x: UnsafePointer<Float>, _ stride: Int, _ s0: UnsafePointer<UInt64>,
                        _ words: Int, _ lut: UnsafePointer<Bits>) -> SIMD4<Float> {
        var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
        var p = x
        for w in 0..<words {
            let w0 = s0[w]
            for b in 0..<8 {
                let m0 = mask(lut, w0, b)
                let q = p + b &* 8
                a0 += flip(bits(q), m0)
                a1 += flip(bits(q + stride), m0)
                a2 += flip(bits(q + 2 &* stride), m0)
                a3 += flip(bits(q + 3 &* stride), m0)
            }
            p += 64
        }
        return SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    }

    /// One row of `x` against 4 sign rows (`rowStride` words apart); lanes j0…j3.
    @inline(__always)
    static func down1x4(_ x: UnsafePointer<Float>, _ s: UnsafePointer<UInt64>, _ rowStride: Int,
                        _ words: Int, _ lut: UnsafePointer<Bits>) -> SIMD4<Float> {
        var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
        var p = x
        let s1 = s + rowStride, s2 = s + 2 &* rowStride, s3 = s + 3 &* rowStride
        for w in 0..<words {
            let w0 = s[w], w1 = s1[w], w2 = s2[w], w3 = s3[w]
            for b in 0..<8 {
                let v = bits(p + b &* 8)
                a0 += flip(v, mask(lut, w0, b))
                a1 += flip(v, mask(lut, w1, b))
                a2 += flip(v, mask(lut, w2, b))
                a3 += flip(v, mask(lut, w3, b))
            }
            p += 64
        }
        return SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    }

    /// One row of `x` against one sign row.
    @inline(__always)
    static func down1x1(_ x: UnsafePointer<Float>, _ s: UnsafePointer<UInt64>, _ words: Int,
                        _ lut: UnsafePointer<Bits>) -> Float {
        var a0 = Lanes(), a1 = Lanes()
        var p = x
        for w in 0..<words {
            let w0 = s[w]
            for b in stride(from: 0, to: 8, by: 2) {
                a0 += flip(bits(p + b &* 8), mask(lut, w0, b))
                a1 += flip(bits(p + b &* 8 + 8), mask(lut, w0, b + 1))
            }
            p += 64
        }
        return (a0 + a1).sum()
    }

    // MARK: - Step 1 driver

    /// Step 1 for a block of `tokens` ≤ 4 rows of `x` (`stride` apart, `inFeatures` columns,
    /// already multiplied by the input scales): `z[t·zStride + j] = m[j] · Σ_i S_A[j, i]·x[t, i]`
    /// for `j` in `channels`.
    ///
    /// `tail` is scratch for 4 × 64 floats: the last partial sign word's columns are copied
    /// there, zero-padded, so every tile reads whole words (padding bits are 0, i.e. +1, times 0).
    static func down(x: UnsafePointer<Float>, stride: Int, tokens: Int, inFeatures: Int,
                     signA: UnsafePointer<UInt64>, wordsPerRow: Int, channels: Range<Int>,
                     middle: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, zStride: Int,
                     tail: UnsafeMutablePointer<Float>, tileWords: Int) {
        let lut = SignMasks.table
        let fullWords = inFeatures / 64
        let remainder = inFeatures - fullWords * 64
        for t in 0..<tokens {
            for j in channels { z[t * zStride + j] = 0 }
        }
        // Segments: tiles of whole words read in place, then the padded tail word.
        var segments: [(x: UnsafePointer<Float>, stride: Int, word: Int, words: Int)] = []
        var start = 0
        while start < fullWords {
            let words = Swift.min(tileWords, fullWords - start)
            segments.append((x + start * 64, stride, start, words))
            start += words
        }
        if remainder > 0 {
            for t in 0..<tokens {
                let src = x + t * stride + fullWords * 64
                let dst = tail + t * 64
                for c in 0..<64 { dst[c] = c < remainder ? src[c] : 0 }
            }
            segments.append((UnsafePointer(tail), 64, fullWords, 1))
        }
        for segment in segments {
            let sx = segment.x, ss = segment.stride, words = segment.words
            if tokens == 4 {
                var j = channels.lowerBound
                while j + 2 <= channels.upperBound {
                    let s0 = signA + j * wordsPerRow + segment.word
                    let sums = down4x2(sx, ss, s0, s0 + wordsPerRow, words, lut)
                    for t in 0..<4 {
                        z[t * zStride + j] += sums[2 * t]
                        z[t * zStride + j + 1] += sums[2 * t + 1]
                    }
                    j += 2
                }
                if j < channels.upperBound {
                    let sums = down4x1(sx, ss, signA + j * wordsPerRow + segment.word, words, lut)
                    for t in 0..<4 { z[t * zStride + j] += sums[t] }
                }
            } else {
                for t in 0..<tokens {
                    let row = sx + t * ss
                    var j = channels.lowerBound
                    while j + 4 <= channels.upperBound {
                        let sums = down1x4(row, signA + j * wordsPerRow + segment.word, wordsPerRow, words, lut)
                        for c in 0..<4 { z[t * zStride + j + c] += sums[c] }
                        j += 4
                    }
                    while j < channels.upperBound {
                        z[t * zStride + j] += down1x1(row, signA + j * wordsPerRow + segment.word, words, lut)
                        j += 1
                    }
                }
            }
        }
        for t in 0..<tokens {
            for j in channels { z[t * zStride + j] *= middle[j] }
        }
    }

    // MARK: - Step 2 tiles

    /// `y[t, o] += b[o] · Σ_j S_B[j, o]·z[t, j]` for 4 tokens and the 16 outputs of chunks
    /// `chunk`, `chunk + 1` (`chunk` even, so both lie in one sign word).
    @inline(__always)
    static func up4x2(z: UnsafePointer<Float>, zStride: Int, k: Int, signB: UnsafePointer<UInt64>,
                      wordsPerRow: Int, chunk: Int, scale: UnsafePointer<Float>,
                      y: UnsafeMutablePointer<Float>, yStride: Int, lut: UnsafePointer<Bits>) {
        var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes()
        var a20 = Lanes(), a21 = Lanes(), a30 = Lanes(), a31 = Lanes()
        let shift = UInt64(truncatingIfNeeded: (chunk & 7) * 8)
        var row = signB + (chunk >> 3)
        let z1 = z + zStride, z2 = z + 2 * zStride, z3 = z + 3 * zStride
        for j in 0..<k {
            let pair = row.pointee &>> shift
            let m0 = lut[Int(truncatingIfNeeded: pair) & 0xFF]
            let m1 = lut[Int(truncatingIfNeeded: pair &>> 8) & 0xFF]
            let v0 = splat(z[j]), v1 = splat(z1[j]), v2 = splat(z2[j]), v3 = splat(z3[j])
            a00 += flip(v0, m0); a01 += flip(v0, m1)
            a10 += flip(v1, m0); a11 += flip(v1, m1)
            a20 += flip(v2, m0); a21 += flip(v2, m1)
            a30 += flip(v3, m0); a31 += flip(v3, m1)
            row += wordsPerRow
        }
        let o = chunk * 8
        let b0 = lanes(scale + o), b1 = lanes(scale + o + 8)
        var p = y + o
        store(a00 * b0 + lanes(p), p); store(a01 * b1 + lanes(p + 8), p + 8); p += yStride
        store(a10 * b0 + lanes(p), p); store(a11 * b1 + lanes(p + 8), p + 8); p += yStride
        store(a20 * b0 + lanes(p), p); store(a21 * b1 + lanes(p + 8), p + 8); p += yStride
        store(a30 * b0 + lanes(p), p); store(a31 * b1 + lanes(p + 8), p + 8)
    }

    /// `y[o] += b[o] · Σ_j S_B[j, o]·z[j]` for one token and the 64 outputs of sign word `word`.
    /// `scale` and `y` point at output `64·word`.
    @inline(__always)
    static func up1x8(z: UnsafePointer<Float>, k: Int, signB: UnsafePointer<UInt64>, wordsPerRow: Int,
                      word: Int, scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                      lut: UnsafePointer<Bits>) {
        var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
        var a4 = Lanes(), a5 = Lanes(), a6 = Lanes(), a7 = Lanes()
        var row = signB + word
        for j in 0..<k {
            let w = row.pointee
            let v = splat(z[j])
            a0 += flip(v, mask(lut, w, 0)); a1 += flip(v, mask(lut, w, 1))
            a2 += flip(v, mask(lut, w, 2)); a3 += flip(v, mask(lut, w, 3))
            a4 += flip(v, mask(lut, w, 4)); a5 += flip(v, mask(lut, w, 5))
            a6 += flip(v, mask(lut, w, 6)); a7 += flip(v, mask(lut, w, 7))
            row += wordsPerRow
        }
        store(a0 * lanes(scale) + lanes(y), y)
        store(a1 * lanes(scale + 8) + lanes(y + 8), y + 8)
        store(a2 * lanes(scale + 16) + lanes(y + 16), y + 16)
        store(a3 * lanes(scale + 24) + lanes(y + 24), y + 24)
        store(a4 * lanes(scale + 32) + lanes(y + 32), y + 32)
        store(a5 * lanes(scale + 40) + lanes(y + 40), y + 40)
        store(a6 * lanes(scale + 48) + lanes(y + 48), y + 48)
        store(a7 * lanes(scale + 56) + lanes(y + 56), y + 56)
    }

    // MARK: - Step 2 driver

    /// Step 2 for a block of `tokens` ≤ 4: adds `b ⊙ S_Bᵀ·z[t]` to `y[t]` (`yStride` apart) for
    /// the outputs of sign words `words`.
    ///
    /// `tail` is scratch for 128 floats: the last partial word's scales and outputs are copied
    /// there (scales zero-padded) so the tile always handles 64 outputs.
    static func up(z: UnsafePointer<Float>, zStride: Int, tokens: Int, k: Int, signB: UnsafePointer<UInt64>,
                   wordsPerRow: Int, outFeatures: Int, words: Range<Int>, scale: UnsafePointer<Float>,
                   y: UnsafeMutablePointer<Float>, yStride: Int, tail: UnsafeMutablePointer<Float>) {
        let lut = SignMasks.table
        for word in words {
            let first = word * 64
            let count = Swift.min(64, outFeatures - first)
            if count == 64 && tokens == 4 {
                for chunk in stride(from: word * 8, to: word * 8 + 8, by: 2) {
                    up4x2(z: z, zStride: zStride, k: k, signB: signB, wordsPerRow: wordsPerRow, chunk: chunk,
                          scale: scale, y: y, yStride: yStride, lut: lut)
                }
            } else if count == 64 {
                for t in 0..<tokens {
                    up1x8(z: z + t * zStride, k: k, signB: signB, wordsPerRow: wordsPerRow, word: word,
                          scale: scale + first, y: y + t * yStride + first, lut: lut)
                }
            } else {
                let paddedScale = tail, paddedY = tail + 64
                for c in 0..<64 { paddedScale[c] = c < count ? scale[first + c] : 0 }
                for t in 0..<tokens {
                    let row = y + t * yStride + first
                    for c in 0..<64 { paddedY[c] = c < count ? row[c] : 0 }
                    up1x8(z: z + t * zStride, k: k, signB: signB, wordsPerRow: wordsPerRow, word: word,
                          scale: paddedScale, y: paddedY, lut: lut)
                    for c in 0..<count { row[c] = paddedY[c] }
                }
            }
        }
    }

    // MARK: - Input preparation

    /// Writes `tokens` rows of `in` floats to `out`: the input (Float32 or half bit patterns)
    /// times the input scales `a` when given.
    static func prepare(float x: UnsafePointer<Float>?, half h: UnsafePointer<UInt16>?, tokens: Int,
                        inFeatures: Int, inputScale a: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let vectorEnd = inFeatures & ~7
        for t in 0..<tokens {
            let dst = out + t * inFeatures
            var i = 0
            if let x {
                let src = x + t * inFeatures
                if let a {
                    while i < vectorEnd { store(lanes(src + i) * lanes(a + i), dst + i); i += 8 }
                    while i < inFeatures { dst[i] = src[i] * a[i]; i += 1 }
                } else {
                    dst.update(from: src, count: inFeatures)
                }
            } else if let h {
                let src = h + t * inFeatures
                while i < vectorEnd {
                    var v = SignMasks.floats(fromHalfBits: UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<UInt16>.self))
                    if let a { v *= lanes(a + i) }
                    store(v, dst + i)
                    i += 8
                }
                while i < inFeatures {
                    let v = Float(Float16(bitPattern: src[i]))
                    dst[i] = a.map { v * $0[i] } ?? v
                    i += 1
                }
            }
        }
    }
}
