#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The sign-GEMM micro-kernels over raw pointers. Callers (``SignGEMM``) check every bound;
/// nothing here is public.
///
/// * Step 1 (`down…`): `z[t, j] = Σ_i S_A[j, i] · x[t, i]` over the long inner dimension `in`,
///   accumulating `±x` by XOR-ing sign masks into the bit patterns of eight columns at a time
///   (one 256-entry table load per sign byte). Register tiles of 4 tokens × 2 sign channels
///   (8 accumulators) use every loaded mask 4 times and every loaded input twice; single
///   tokens use 1 × 4 channels.
/// * Step 2, blocks of 8 tokens (`buildTables`, `upTable8`): for every group of 8 sign
///   channels, a table of the 256 signed partial sums `Σ_b ±z[t, 8g + b]`, each entry a vector
///   over the 8 tokens; an output then costs one table load and one add per 8 channels (instead
///   of 8 XORs and 8 adds), plus an 8 × 8 transpose back to rows.
/// * Step 2, fewer tokens (`up…`): `y[t, o] += b[o] · Σ_j S_B[j, o] · z[t, j]` by XOR, eight
///   outputs per lane group with `z[t, j]` broadcast (4 tokens × 16 outputs, or 1 × 64).
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

    // MARK: - Step 1 tiles (sign rows as bytes: byte c holds columns 8c … 8c + 7)

    /// Sums of `±x` over `chunks` × 8 columns for 4 rows of `x` (`stride` apart) and the sign
    /// rows `s0`, `s1`; lanes are (t0,j0), (t0,j1), (t1,j0), (t1,j1), … (t3,j1).
    @inline(__always)
    static func down4x2(_ x: UnsafePointer<Float>, _ stride: Int, _ s0: UnsafePointer<UInt8>,
                        _ s1: UnsafePointer<UInt8>, _ chunks: Int, _ lut: UnsafePointer<Bits>) -> SIMD8<Float> {
        var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes()
        var a20 = Lanes(), a21 = Lanes(), a30 = Lanes(), a31 = Lanes()
        var q = x
        for c in 0..<chunks {
            let m0 = lut[Int(s0[c])], m1 = lut[Int(s1[c])]
            let x0 = bits(q), x1 = bits(q + stride), x2 = bits(q + 2 &* stride), x3 = bits(q + 3 &* stride)
            a00 += flip(x0, m0); a01 += flip(x0, m1)
            a10 += flip(x1, m0); a11 += flip(x1, m1)
            a20 += flip(x2, m0); a21 += flip(x2, m1)
            a30 += flip(x3, m0); a31 += flip(x3, m1)
            q += 8
        }
        return SIMD8(a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
    }

    /// As ``down4x2(_:_:_:_:_:_:)`` for one sign row; lanes t0…t3.
    @inline(__always)
    static func down4x1(_ x: UnsafePointer<Float>, _ stride: Int, _ s0: UnsafePointer<UInt8>,
                        _ chunks: Int, _ lut: UnsafePointer<Bits>) -> SIMD4<Float> {
        var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
        var q = x
        for c in 0..<chunks {
            let m0 = lut[Int(s0[c])]
            a0 += flip(bits(q), m0)
            a1 += flip(bits(q + stride), m0)
            a2 += flip(bits(q + 2 &* stride), m0)
            a3 += flip(bits(q + 3 &* stride), m0)
            q += 8
        }
        return SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    }

    /// One row of `x` against 4 sign rows (`rowStride` bytes apart); lanes j0…j3.
    @inline(__always)
    static func down1x4(_ x: UnsafePointer<Float>, _ s: UnsafePointer<UInt8>, _ rowStride: Int,
                        _ chunks: Int, _ lut: UnsafePointer<Bits>) -> SIMD4<Float> {
        var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
        let s1 = s + rowStride, s2 = s + 2 &* rowStride, s3 = s + 3 &* rowStride
        var q = x
        for c in 0..<chunks {
            let v = bits(q)
            a0 += flip(v, lut[Int(s[c])])
            a1 += flip(v, lut[Int(s1[c])])
            a2 += flip(v, lut[Int(s2[c])])
            a3 += flip(v, lut[Int(s3[c])])
            q += 8
        }
        return SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    }

    /// One row of `x` against 2 sign rows (`rowStride` bytes apart): the single-token tile for
    /// SSE-only builds, where 1 × 4 spills.
    @inline(__always)
    static func down1x2(_ x: UnsafePointer<Float>, _ s: UnsafePointer<UInt8>, _ rowStride: Int,
                        _ chunks: Int, _ lut: UnsafePointer<Bits>) -> SIMD2<Float> {
        var a0 = Lanes(), a1 = Lanes()
        let s1 = s + rowStride
        var q = x
        for c in 0..<chunks {
            let v = bits(q)
            a0 += flip(v, lut[Int(s[c])])
            a1 += flip(v, lut[Int(s1[c])])
            q += 8
        }
        return SIMD2(a0.sum(), a1.sum())
    }

    /// One row of `x` against one sign row.
    @inline(__always)
    static func down1x1(_ x: UnsafePointer<Float>, _ s: UnsafePointer<UInt8>, _ chunks: Int,
                        _ lut: UnsafePointer<Bits>) -> Float {
        var a0 = Lanes()
        var q = x
        for c in 0..<chunks {
            a0 += flip(bits(q), lut[Int(s[c])])
            q += 8
        }
        return a0.sum()
    }

    // MARK: - Step 1 driver

    /// Whether step 1 uses 4 × 2 tiles (8 accumulators of 8 lanes) rather than 4 × 1 — and,
    /// for single tokens, 1 × 4 channels and 1 × 64 outputs rather than 1 × 2 and 1 × 32.
    ///
    /// Which is faster depends on the vector registers the build targets: with AVX (16 × 256
    /// bits) the 4 × 2 tile fits in registers and reuses each loaded input twice; with SSE only
    /// (a portable x86-64 build, 16 × 128 bits) its 16 accumulator halves spill and 4 × 1 is
    /// about 30 % faster. Swift cannot test target features at compile time, so the first use
    /// times both on an L1-resident tile and keeps the faster (`LORDBA_SIGN_TILE=4x2` or `4x1`
    /// in the environment forces one). Both tiles do the same arithmetic per (token, channel),
    /// so results are identical whichever is chosen.
    static let wideTile: Bool = {
        if let forced = getenv("LORDBA_SIGN_TILE").map({ String(cString: $0) }), forced == "4x2" || forced == "4x1" {
            return forced == "4x2"
        }
        let chunks = 128, stride = chunks * 8
        let x = UnsafeMutablePointer<Float>.allocate(capacity: 4 * stride)
        let signs = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * chunks)
        defer { x.deallocate(); signs.deallocate() }
        for i in 0..<(4 * stride) { x[i] = Float(i % 13) - 6 }
        for i in 0..<(2 * chunks) { signs[i] = UInt8(truncatingIfNeeded: i &* 157 &+ 11) }
        let lut = SignMasks.table
        var sink: Float = 0
        // Alternate the two so that a burst of load from other processes hits both alike;
        // keep each one's fastest sample (about 50 µs of work each).
        var pair = Double.infinity, single = Double.infinity
        for _ in 0..<9 {
            var start = ContinuousClock.now
            for _ in 0..<64 { sink += down4x2(x, stride, signs, signs + chunks, chunks, lut).sum() }
            pair = Swift.min(pair, (ContinuousClock.now - start).seconds)
            start = ContinuousClock.now
            for _ in 0..<64 {
                sink += down4x1(x, stride, signs, chunks, lut).sum() + down4x1(x, stride, signs + chunks, chunks, lut).sum()
            }
            single = Swift.min(single, (ContinuousClock.now - start).seconds)
        }
        return pair <= single || sink.isNaN
    }()

    /// Step 1 for a block of `tokens` ≤ 4 rows of `x` (`stride` apart, `inFeatures` columns,
    /// already multiplied by the input scales): `z[t·zStride + j] = m[j] · Σ_i S_A[j, i]·x[t, i]`
    /// for `j` in `channels`. `signA` points at byte 0 of sign row 0, rows `rowBytes` apart.
    ///
    /// Columns are taken in tiles of `tileChunks` × 8 (the tile of 4 rows stays in L1 while every
    /// channel pair reads it). `tail` is scratch for 4 × 8 floats: a last partial chunk is copied
    /// there, zero-padded (padding sign bits are 0, i.e. +1, times 0).
    static func down(x: UnsafePointer<Float>, stride: Int, tokens: Int, inFeatures: Int,
                     signA: UnsafePointer<UInt8>, rowBytes: Int, channels: Range<Int>,
                     middle: UnsafePointer<Float>, z: UnsafeMutablePointer<Float>, zStride: Int,
                     tail: UnsafeMutablePointer<Float>, tileChunks: Int) {
        let lut = SignMasks.table
        let wide = wideTile
        let fullChunks = inFeatures / 8
        let remainder = inFeatures - fullChunks * 8
        for t in 0..<tokens {
            for j in channels { z[t * zStride + j] = 0 }
        }
        /// Adds the sums over `chunks` chunks starting at chunk `first` (x already offset).
        func accumulate(_ sx: UnsafePointer<Float>, _ ss: Int, _ first: Int, _ chunks: Int) {
            if tokens == 4 {
                var j = channels.lowerBound
                while wide && j + 2 <= channels.upperBound {
                    let s0 = signA + j * rowBytes + first
                    let sums = down4x2(sx, ss, s0, s0 + rowBytes, chunks, lut)
                    for t in 0..<4 {
                        z[t * zStride + j] += sums[2 * t]
                        z[t * zStride + j + 1] += sums[2 * t + 1]
                    }
                    j += 2
                }
                while j < channels.upperBound {
                    let sums = down4x1(sx, ss, signA + j * rowBytes + first, chunks, lut)
                    for t in 0..<4 { z[t * zStride + j] += sums[t] }
                    j += 1
                }
            } else {
                for t in 0..<tokens {
                    let row = sx + t * ss
                    var j = channels.lowerBound
                    while wide && j + 4 <= channels.upperBound {
                        let sums = down1x4(row, signA + j * rowBytes + first, rowBytes, chunks, lut)
                        for c in 0..<4 { z[t * zStride + j + c] += sums[c] }
                        j += 4
                    }
                    while !wide && j + 2 <= channels.upperBound {
                        let sums = down1x2(row, signA + j * rowBytes + first, rowBytes, chunks, lut)
                        z[t * zStride + j] += sums[0]
                        z[t * zStride + j + 1] += sums[1]
                        j += 2
                    }
                    while j < channels.upperBound {
                        z[t * zStride + j] += down1x1(row, signA + j * rowBytes + first, chunks, lut)
                        j += 1
                    }
                }
            }
        }
        var start = 0
        while start < fullChunks {
            let chunks = Swift.min(tileChunks, fullChunks - start)
            accumulate(x + start * 8, stride, start, chunks)
            start += chunks
        }
        if remainder > 0 {
            for t in 0..<tokens {
                let src = x + t * stride + fullChunks * 8
                for c in 0..<8 { tail[t * 8 + c] = c < remainder ? src[c] : 0 }
            }
            accumulate(UnsafePointer(tail), 8, fullChunks, 1)
        }
        for t in 0..<tokens {
            for j in channels { z[t * zStride + j] *= middle[j] }
        }
    }

    // MARK: - Step 2 by tables (blocks of 8 tokens)

    /// Sign channels per table: 8 (256 entries of 8 floats = 8 KiB per table).
    static let groupBits = 8

    /// Whether blocks of 8 tokens use the tables (the default) rather than XOR in step 2;
    /// `LORDBA_SIGN_STEP2=xor` in the environment selects XOR, for measuring both.
    static let step2Tables: Bool = getenv("LORDBA_SIGN_STEP2").map { String(cString: $0) } != "xor"

    /// Builds, for each group `g` of up to 8 sign channels, `tables[256·g + e] =
    /// Σ_b (bit b of e ? −1 : +1) · zT[8g + b]`, where `zT[j]` holds `z[t, j]` for 8 tokens.
    static func buildTables(zT: UnsafePointer<Lanes>, k: Int, tables: UnsafeMutablePointer<Lanes>) {
        var g = 0
        while g * groupBits < k {
            let table = tables + g * 256
            let first = g * groupBits
            let n = Swift.min(groupBits, k - first)
            var total = Lanes()
            for b in 0..<n { total += zT[first + b] }
            table[0] = total
            for b in 0..<n {
                let twice = zT[first + b] + zT[first + b]
                let half = 1 << b
                for e in 0..<half { table[half + e] = table[e] - twice }
            }
            g += 1
        }
    }

    /// Adds `b ⊙ Σ_g tables_g[column byte]` to 8 rows of `y` (`yStride` apart): `columns`
    /// holds, per output `o`, one byte per channel group with bit `b` = sign of channel
    /// `8g + b` at `o` (`groups` bytes per output).
    static func upTable8(tables: UnsafePointer<Lanes>, groups: Int, columns: UnsafePointer<UInt8>,
                         outFeatures: Int, scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                         yStride: Int, tail: UnsafeMutablePointer<Lanes>) {
        var o = 0
        let fullEnd = outFeatures & ~7
        while o < fullEnd {
            // c_i: output o + i for the 8 tokens; the group loop keeps the lookups in registers.
            var c0 = Lanes(), c1 = Lanes(), c2 = Lanes(), c3 = Lanes()
            var c4 = Lanes(), c5 = Lanes(), c6 = Lanes(), c7 = Lanes()
            var q = columns + o * groups
            var t = tables
            for _ in 0..<groups {
                c0 += t[Int(q[0])]; c1 += t[Int(q[groups])]
                c2 += t[Int(q[2 &* groups])]; c3 += t[Int(q[3 &* groups])]
                c4 += t[Int(q[4 &* groups])]; c5 += t[Int(q[5 &* groups])]
                c6 += t[Int(q[6 &* groups])]; c7 += t[Int(q[7 &* groups])]
                q += 1
                t += 256
            }
            transposeAdd8(c0, c1, c2, c3, c4, c5, c6, c7, scale: scale + o, y: y + o, yStride: yStride)
            o += 8
        }
        if o < outFeatures {
            for i in 0..<(outFeatures - o) {
                var c = Lanes()
                for g in 0..<groups { c += tables[g * 256 + Int(columns[(o + i) * groups + g])] }
                tail[i] = c
            }
            for i in 0..<(outFeatures - o) {
                let c = tail[i]
                for r in 0..<8 { y[r * yStride + o + i] += scale[o + i] * c[r] }
            }
        }
    }

    /// Adds `b ⊙ row r` of the transposed 8 × 8 block `c` (`c_i` = output `i` for 8 tokens) to
    /// row `r` of `y`, for `r` = 0…7. Three rounds of unzipping (even lanes, then odd lanes, of
    /// each pair) transpose 8 × 8.
    @inline(__always)
    static func transposeAdd8(_ c0: Lanes, _ c1: Lanes, _ c2: Lanes, _ c3: Lanes, _ c4: Lanes, _ c5: Lanes,
                              _ c6: Lanes, _ c7: Lanes, scale: UnsafePointer<Float>,
                              y: UnsafeMutablePointer<Float>, yStride: Int) {
        @inline(__always) func even(_ a: Lanes, _ b: Lanes) -> Lanes { Lanes(lowHalf: a.evenHalf, highHalf: b.evenHalf) }
        @inline(__always) func odd(_ a: Lanes, _ b: Lanes) -> Lanes { Lanes(lowHalf: a.oddHalf, highHalf: b.oddHalf) }
        let a0 = even(c0, c1), a1 = even(c2, c3), a2 = even(c4, c5), a3 = even(c6, c7)
        let a4 = odd(c0, c1), a5 = odd(c2, c3), a6 = odd(c4, c5), a7 = odd(c6, c7)
        let b0 = even(a0, a1), b1 = even(a2, a3), b2 = even(a4, a5), b3 = even(a6, a7)
        let b4 = odd(a0, a1), b5 = odd(a2, a3), b6 = odd(a4, a5), b7 = odd(a6, a7)
        let b = lanes(scale)
        var p = y
        store(even(b0, b1) * b + lanes(p), p); p += yStride
        store(even(b2, b3) * b + lanes(p), p); p += yStride
        store(even(b4, b5) * b + lanes(p), p); p += yStride
        store(even(b6, b7) * b + lanes(p), p); p += yStride
        store(odd(b0, b1) * b + lanes(p), p); p += yStride
        store(odd(b2, b3) * b + lanes(p), p); p += yStride
        store(odd(b4, b5) * b + lanes(p), p); p += yStride
        store(odd(b6, b7) * b + lanes(p), p)
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
            let pair = UInt64(littleEndian: row.pointee) &>> shift
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
            let w = UInt64(littleEndian: row.pointee)
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

    /// As ``up1x8(z:k:signB:wordsPerRow:word:scale:y:lut:)`` for the 32 outputs of half `half`
    /// (0 or 1) of the word: the single-token tile for SSE-only builds, where 1 × 8 spills.
    @inline(__always)
    static func up1x4(z: UnsafePointer<Float>, k: Int, signB: UnsafePointer<UInt64>, wordsPerRow: Int,
                      word: Int, half: Int, scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                      lut: UnsafePointer<Bits>) {
        var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
        var row = signB + word
        let shift = UInt64(truncatingIfNeeded: half * 32)
        for j in 0..<k {
            let w = UInt64(littleEndian: row.pointee) &>> shift
            let v = splat(z[j])
            a0 += flip(v, mask(lut, w, 0)); a1 += flip(v, mask(lut, w, 1))
            a2 += flip(v, mask(lut, w, 2)); a3 += flip(v, mask(lut, w, 3))
            row += wordsPerRow
        }
        store(a0 * lanes(scale) + lanes(y), y)
        store(a1 * lanes(scale + 8) + lanes(y + 8), y + 8)
        store(a2 * lanes(scale + 16) + lanes(y + 16), y + 16)
        store(a3 * lanes(scale + 24) + lanes(y + 24), y + 24)
    }

    /// One token, the 64 outputs of `word`, with the tile that suits the build.
    @inline(__always)
    static func up1(z: UnsafePointer<Float>, k: Int, signB: UnsafePointer<UInt64>, wordsPerRow: Int, word: Int,
                    scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, lut: UnsafePointer<Bits>, wide: Bool) {
        if wide {
            up1x8(z: z, k: k, signB: signB, wordsPerRow: wordsPerRow, word: word, scale: scale, y: y, lut: lut)
        } else {
            up1x4(z: z, k: k, signB: signB, wordsPerRow: wordsPerRow, word: word, half: 0, scale: scale, y: y, lut: lut)
            up1x4(z: z, k: k, signB: signB, wordsPerRow: wordsPerRow, word: word, half: 1, scale: scale + 32,
                  y: y + 32, lut: lut)
        }
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
        let wide = wideTile
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
                    up1(z: z + t * zStride, k: k, signB: signB, wordsPerRow: wordsPerRow, word: word,
                        scale: scale + first, y: y + t * yStride + first, lut: lut, wide: wide)
                }
            } else {
                let paddedScale = tail, paddedY = tail + 64
                for c in 0..<64 { paddedScale[c] = c < count ? scale[first + c] : 0 }
                for t in 0..<tokens {
                    let row = y + t * yStride + first
                    for c in 0..<64 { paddedY[c] = c < count ? row[c] : 0 }
                    up1(z: z + t * zStride, k: k, signB: signB, wordsPerRow: wordsPerRow, word: word,
                        scale: paddedScale, y: paddedY, lut: lut, wide: wide)
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
