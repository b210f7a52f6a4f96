import CLoRDBAKernels

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
///
/// The tiles themselves run in C (`Sources/CLoRDBAKernels/sign_body.h`), compiled for SSE2 and
/// for AVX2 and chosen at run time with the other kernels (`CPUDispatch`, `LORDBA_CPU`): one
/// portable binary runs the 256-bit code wherever the CPU has it.
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

    /// The XOR mask of byte `byte` (0…7) of a sign word.
    @inline(__always)
    static func mask(_ lut: UnsafePointer<Bits>, _ word: UInt64, _ byte: Int) -> Bits {
        lut[Int(truncatingIfNeeded: word &>> UInt64(truncatingIfNeeded: byte &* 8)) & 0xFF]
    }


    // MARK: - Step 1 driver

    /// Whether step 1 uses 4 × 2 tiles (8 accumulators of 8 lanes) rather than 4 × 1 — and,
    /// for single tokens, 1 × 4 channels and 1 × 64 outputs rather than 1 × 2 and 1 × 32.
    ///
    /// With AVX (16 × 256-bit registers) the wide tiles fit and reuse each loaded input twice;
    /// with SSE only their accumulators spill and the narrow ones are faster. The kernels run
    /// in C on the path `CPUDispatch` chose (AVX2 or SSE2), so the tile follows the path;
    /// `LORDBA_SIGN_TILE=4x2` or `4x1` in the environment forces one. Both tiles do the same
    /// arithmetic per (token, channel), so results are identical whichever is chosen.
    static var wideTile: Bool { forcedTile ?? (CPUDispatch.current == .avx2) }

    static let forcedTile: Bool? = {
        guard let forced = getenv("LORDBA_SIGN_TILE").map({ String(cString: $0) }), forced == "4x2" || forced == "4x1" else { return nil }
        return forced == "4x2"
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
                     tail: UnsafeMutablePointer<Float>, tileChunks: Int, wide: Bool? = nil) {
        lordba_sign_down(x, stride, tokens, inFeatures, signA, rowBytes, channels.lowerBound, channels.upperBound,
                         middle, z, zStride, tail, tileChunks, (wide ?? wideTile) ? 1 : 0)
    }

    // MARK: - Step 1 by tables (blocks of 8 tokens)

    /// Whether blocks of 8 tokens use 4-bit tables in step 1 for `k` sign channels: building
    /// the 32 table vectors per 8 inputs pays off from about 8 channels on. `LORDBA_SIGN_STEP1=xor`
    /// in the environment selects the XOR tiles, for measuring both.
    static func step1Tables(k: Int) -> Bool { k >= 8 && step1TablesAllowed }

    static let step1TablesAllowed: Bool = getenv("LORDBA_SIGN_STEP1").map { String(cString: $0) } != "xor"

    /// Input chunks (of 8) per step-1 table tile: 16 × 32 vectors = 16 KiB of tables in L1.
    static let step1TileChunks = 16

    /// Vectors of scratch `downTable8` needs for its tables.
    static var step1TableVectors: Int { 32 * step1TileChunks }

    /// Step 1 for 8 rows of `x` (`stride` apart) by 4-bit tables: `zT[j][t] = m[j] · Σ_i
    /// S_A[j, i]·a[i]·x[t, i]` for all `k` channels, with `a` = `inputScale` multiplied in as `x` is
    /// loaded (nil: `x` already scaled, or no input scale). `tables` is scratch for
    /// ``step1TableVectors`` vectors, `tail` for 64 floats.
    static func downTable8(x: UnsafePointer<Float>, stride: Int, inFeatures: Int, inputScale: UnsafePointer<Float>?,
                           signA: UnsafePointer<UInt8>, rowBytes: Int, k: Int, middle: UnsafePointer<Float>,
                           zT: UnsafeMutablePointer<Lanes>, tables: UnsafeMutablePointer<Lanes>,
                           tail: UnsafeMutablePointer<Float>) {
        lordba_sign_down_table8(x, stride, inFeatures, inputScale, signA, rowBytes, k, middle,
                                UnsafeMutableRawPointer(zT).assumingMemoryBound(to: Float.self),
                                UnsafeMutableRawPointer(tables).assumingMemoryBound(to: Float.self), tail, step1TileChunks)
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
        lordba_sign_build_tables(UnsafeRawPointer(zT).assumingMemoryBound(to: Float.self), k,
                                 UnsafeMutableRawPointer(tables).assumingMemoryBound(to: Float.self))
    }

    /// Adds `b ⊙ Σ_g tables_g[column byte]` to 8 rows of `y` (`yStride` apart): `columns`
    /// holds, per output `o`, one byte per channel group with bit `b` = sign of channel
    /// `8g + b` at `o` (`groups` bytes per output).
    static func upTable8(tables: UnsafePointer<Lanes>, groups: Int, columns: UnsafePointer<UInt8>,
                         outFeatures: Int, scale: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                         yStride: Int, tail: UnsafeMutablePointer<Lanes>) {
        lordba_sign_up_table8(UnsafeRawPointer(tables).assumingMemoryBound(to: Float.self), groups, columns, outFeatures,
                              scale, y, yStride, UnsafeMutableRawPointer(tail).assumingMemoryBound(to: Float.self))
    }

    // MARK: - Step 2 driver

    /// Step 2 for a block of `tokens` ≤ 4: adds `b ⊙ S_Bᵀ·z[t]` to `y[t]` (`yStride` apart) for
    /// the outputs of sign words `words`.
    ///
    /// `tail` is scratch for 128 floats: the last partial word's scales and outputs are copied
    /// there (scales zero-padded) so the tile always handles 64 outputs.
    static func up(z: UnsafePointer<Float>, zStride: Int, tokens: Int, k: Int, signB: UnsafePointer<UInt64>,
                   wordsPerRow: Int, outFeatures: Int, words: Range<Int>, scale: UnsafePointer<Float>,
                   y: UnsafeMutablePointer<Float>, yStride: Int, tail: UnsafeMutablePointer<Float>, wide: Bool? = nil) {
        lordba_sign_up(z, zStride, tokens, k, signB, wordsPerRow, outFeatures, words.lowerBound, words.upperBound,
                       scale, y, yStride, tail, (wide ?? wideTile) ? 1 : 0)
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
