import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// Step 1's inner loop (4 tokens × 2 sign channels, 8 lanes) with different ways of turning 8
/// packed sign bits into something that negates 8 floats, on an L1-resident tile, one thread.
enum MaskVariants {
    typealias Lanes = SIMD8<Float>
    typealias Bits = SIMD8<UInt32>

    static func run(samples: Int) {
        let chunks = 128, stride = chunks * 8, channels = 16
        let x = UnsafeMutablePointer<Float>.allocate(capacity: 4 * stride)
        let signs = UnsafeMutablePointer<UInt8>.allocate(capacity: channels * chunks)
        let table = UnsafeMutablePointer<Bits>.allocate(capacity: 256)
        let ones = UnsafeMutablePointer<Lanes>.allocate(capacity: 256)
        defer { x.deallocate(); signs.deallocate(); table.deallocate(); ones.deallocate() }
        var rng = SeededGenerator(seed: 3)
        for i in 0..<(4 * stride) { x[i] = 2 * rng.nextUnitFloat() - 1 }
        for i in 0..<(channels * chunks) { signs[i] = UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<256 {
            var m = Bits(repeating: 0), f = Lanes(repeating: 1)
            for l in 0..<8 where (b >> l) & 1 == 1 { m[l] = 0x8000_0000; f[l] = -1 }
            table[b] = m
            ones[b] = f
        }
        let adds = Double(4 * stride * channels)
        var sink: Float = 0
        func time(_ name: String, _ body: (UnsafePointer<UInt8>, UnsafePointer<UInt8>) -> SIMD8<Float>) {
            let seconds = Timing.median(samples: samples, minimumSeconds: 0.05, clock: .processCPU) {
                for j in Swift.stride(from: 0, to: channels, by: 2) {
                    sink += body(signs + j * chunks, signs + (j + 1) * chunks).sum()
                }
            }
            print(name.padding(48) + Format.fixed(adds / seconds / 1e9, 1) + " G sign-adds/s")
        }
        print("step 1, 4 tokens × 2 channels × 1024 columns, in L1, one thread, median of \(samples) (process CPU time):")
        time("256-entry table of XOR masks, 4 × 2 tile") { s0, s1 in
            tile(x, stride, chunks) { c in (table[Int(s0[c])], table[Int(s1[c])]) }
        }
        time("same table, 4 × 1 tile") { s0, s1 in
            var sums = SIMD8<Float>()
            for (n, s) in [s0, s1].enumerated() {
                var a0 = Lanes(), a1 = Lanes(), a2 = Lanes(), a3 = Lanes()
                var q = UnsafePointer(x)
                for c in 0..<chunks {
                    let m = table[Int(s[c])]
                    a0 += unsafeBitCast(UnsafeRawPointer(q).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    a1 += unsafeBitCast(UnsafeRawPointer(q + stride).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    a2 += unsafeBitCast(UnsafeRawPointer(q + 2 * stride).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    a3 += unsafeBitCast(UnsafeRawPointer(q + 3 * stride).loadUnaligned(as: Bits.self) ^ m, to: Lanes.self)
                    q += 8
                }
                sums[n] = a0.sum() + a1.sum() + a2.sum() + a3.sum()
            }
            return sums
        }
        let shifts = Bits(31, 30, 29, 28, 27, 26, 25, 24)
        time("variable shifts: (byte << (31 − lane)) & sign") { s0, s1 in
            tile(x, stride, chunks) { c in
                ((Bits(repeating: UInt32(s0[c])) &<< shifts) & 0x8000_0000,
                 (Bits(repeating: UInt32(s1[c])) &<< shifts) & 0x8000_0000)
            }
        }
        let laneBit = Bits(1, 2, 4, 8, 16, 32, 64, 128)
        let factor = Bits(0x8000_0000, 0x4000_0000, 0x2000_0000, 0x1000_0000, 0x0800_0000, 0x0400_0000, 0x0200_0000, 0x0100_0000)
        time("lane bit times 2^(31 − lane): (b & bit) &* f") { s0, s1 in
            tile(x, stride, chunks) { c in
                ((Bits(repeating: UInt32(s0[c])) & laneBit) &* factor, (Bits(repeating: UInt32(s1[c])) & laneBit) &* factor)
            }
        }
        time("SIMDMask select (replacing(with:where:))") { s0, s1 in
            var a = [Lanes](repeating: Lanes(), count: 8)
            var q = UnsafePointer(x)
            for c in 0..<chunks {
                let m0 = (Bits(repeating: UInt32(s0[c])) & laneBit) .!= 0
                let m1 = (Bits(repeating: UInt32(s1[c])) & laneBit) .!= 0
                for t in 0..<4 {
                    let v = UnsafeRawPointer(q + t * stride).loadUnaligned(as: Lanes.self)
                    a[2 * t] += v.replacing(with: -v, where: m0)
                    a[2 * t + 1] += v.replacing(with: -v, where: m1)
                }
                q += 8
            }
            return SIMD8(a.map { $0.sum() })
        }
        time("±1.0 table and multiply-add (no XOR)") { s0, s1 in
            var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes()
            var a20 = Lanes(), a21 = Lanes(), a30 = Lanes(), a31 = Lanes()
            var q = UnsafePointer(x)
            for c in 0..<chunks {
                let m0 = ones[Int(s0[c])], m1 = ones[Int(s1[c])]
                let x0 = UnsafeRawPointer(q).loadUnaligned(as: Lanes.self)
                let x1 = UnsafeRawPointer(q + stride).loadUnaligned(as: Lanes.self)
                let x2 = UnsafeRawPointer(q + 2 * stride).loadUnaligned(as: Lanes.self)
                let x3 = UnsafeRawPointer(q + 3 * stride).loadUnaligned(as: Lanes.self)
                a00 = x0 * m0 + a00; a01 = x0 * m1 + a01; a10 = x1 * m0 + a10; a11 = x1 * m1 + a11
                a20 = x2 * m0 + a20; a21 = x2 * m1 + a21; a30 = x3 * m0 + a30; a31 = x3 * m1 + a31
                q += 8
            }
            return SIMD8(a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
        }
        if sink.isNaN { print("") }
    }

    /// The 4 × 2 XOR tile with masks from `masks(chunk)`.
    @inline(__always)
    static func tile(_ x: UnsafePointer<Float>, _ stride: Int, _ chunks: Int, _ masks: (Int) -> (Bits, Bits)) -> SIMD8<Float> {
        var a00 = Lanes(), a01 = Lanes(), a10 = Lanes(), a11 = Lanes()
        var a20 = Lanes(), a21 = Lanes(), a30 = Lanes(), a31 = Lanes()
        var q = x
        for c in 0..<chunks {
            let (m0, m1) = masks(c)
            let x0 = UnsafeRawPointer(q).loadUnaligned(as: Bits.self)
            let x1 = UnsafeRawPointer(q + stride).loadUnaligned(as: Bits.self)
            let x2 = UnsafeRawPointer(q + 2 * stride).loadUnaligned(as: Bits.self)
            let x3 = UnsafeRawPointer(q + 3 * stride).loadUnaligned(as: Bits.self)
            a00 += unsafeBitCast(x0 ^ m0, to: Lanes.self); a01 += unsafeBitCast(x0 ^ m1, to: Lanes.self)
            a10 += unsafeBitCast(x1 ^ m0, to: Lanes.self); a11 += unsafeBitCast(x1 ^ m1, to: Lanes.self)
            a20 += unsafeBitCast(x2 ^ m0, to: Lanes.self); a21 += unsafeBitCast(x2 ^ m1, to: Lanes.self)
            a30 += unsafeBitCast(x3 ^ m0, to: Lanes.self); a31 += unsafeBitCast(x3 ^ m1, to: Lanes.self)
            q += 8
        }
        return SIMD8(a00.sum(), a01.sum(), a10.sum(), a11.sum(), a20.sum(), a21.sum(), a30.sum(), a31.sum())
    }
}
