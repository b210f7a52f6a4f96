import Testing
@testable import LoRDBA

/// Scale rounding (f16, E4M3), sign packing, transposes and f16/bf16 decoding on every CPU path.
extension KernelDispatchTests {
    /// f16 scale rounding (F16C or software) against Swift's `Float16(_:)` on every path: every
    /// half value, the midpoints between neighbours (ties to even), values past the largest half,
    /// subnormals, and random floats, each divided first.
    @Test func halfRoundingMatchesSwiftOnEveryPath() {
        var values: [Float] = []
        for bits in UInt16.min...UInt16.max {
            let h = Float(Float16(bitPattern: bits))
            guard h.isFinite else { continue }
            values.append(h)
            values.append(h.nextUp)
            values.append(h.nextDown)
            let next = Float(Float16(bitPattern: bits &+ 1))
            if next.isFinite { values.append((h + next) / 2) }
        }
        var rng = SeededGenerator(seed: 8)
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        values += [65504, 65519.99, 65520, 1e6, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude]
        for divisor: Float in [1, 3, 0.7] {
            let expected = values.map { Float(Float16($0 / divisor)) }
            for rounded in Self.onEachPath({ _ in ScaleDType.f16.rounded(values, dividedBy: divisor) }) {
                let mismatches = zip(rounded, expected).filter { a, b in a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) }
                #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
            }
        }
    }

    /// E4M3 scale rounding and encoding (the C kernels) against `E4M3.float(E4M3.bits(_:))` and
    /// `E4M3.bits(_:)` on every path: every
    /// E4M3 value and its float neighbours, the midpoints between E4M3 neighbours (ties to even),
    /// values past ±448, subnormals, specials and random floats, each divided first.
    @Test func e4m3RoundingMatchesTheSwiftCodecOnEveryPath() {
        var values: [Float] = []
        let finite = (0...255).map { E4M3.float(UInt8($0)) }.filter(\.isFinite).sorted()
        for (i, v) in finite.enumerated() {
            values += [v, v.nextUp, v.nextDown]
            if i + 1 < finite.count { values.append((v + finite[i + 1]) / 2) }
        }
        var rng = SeededGenerator(seed: 13)
        for _ in 0..<20_000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        values += [448, 464, 479.9, 480, 1e6, .infinity, -.infinity, .nan, 0, -0.0, 0x1p-10, 0x1p-9 * 1.5, 0x1p-7 * 1.5,
                   .leastNonzeroMagnitude, -.leastNonzeroMagnitude]
        for divisor: Float in [1, 3, 0.7, 1e-3] {
            let expected = values.map { E4M3.float(E4M3.bits($0 / divisor)) }
            // Whole (eight lanes at a time) and in runs of 7 (the scalar tail only).
            let results = Self.onEachPath { _ in
                [ScaleDType.e4m3.rounded(values, dividedBy: divisor),
                 stride(from: 0, to: values.count, by: 7).flatMap {
                     ScaleDType.e4m3.rounded(Array(values[$0..<min($0 + 7, values.count)]), dividedBy: divisor)
                 }]
            }.flatMap { $0 }
            for rounded in results {
                let mismatches = zip(rounded, expected).filter { a, b in a.bitPattern != b.bitPattern && !(a.isNaN && b.isNaN) }
                #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
            }
        }
        // The writer's codes (lordba_encode_e4m3) against E4M3.bits, whole and in runs of 7.
        let codes = values.map(E4M3.bits)
        for encoded in Self.onEachPath({ _ in
            [ScaleDType.e4m3.encode(values),
             stride(from: 0, to: values.count, by: 7).flatMap {
                 ScaleDType.e4m3.encode(Array(values[$0..<min($0 + 7, values.count)]))
             }]
        }).flatMap({ $0 }) {
            let mismatches = zip(values, zip(encoded, codes)).filter { $1.0 != $1.1 }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
        }
    }

    @Test func signPackingAndTransposesMatchScalarReferencesOnEveryPath() {
        var rng = SeededGenerator(seed: 9)
        for (rows, cols) in [(1, 1), (3, 7), (5, 64), (2, 65), (17, 129), (16, 4099)] {
            var m = rng.gaussianMatrix(rows: rows, cols: cols)
            m.values[0] = -0.0   // −0 and 0 count as +1
            if m.values.count > 1 { m.values[1] = 0 }
            let wpr = (cols + 63) / 64
            var words = [UInt64](repeating: 0, count: rows * wpr)
            for r in 0..<rows { for c in 0..<cols where m[r, c] < 0 { words[r * wpr + c / 64] |= 1 << UInt64(c % 64) } }
            var transposed = [Float](repeating: 0, count: rows * cols)
            for r in 0..<rows { for c in 0..<cols { transposed[c * rows + r] = m[r, c] } }
            _ = Self.onEachPath { path in
                #expect(SignMatrix(signsOf: m).words == words, "signs \(rows)×\(cols) on \(path)")
                #expect(m.transposed().values.map(\.bitPattern) == transposed.map(\.bitPattern), "transpose on \(path)")
            }
        }
    }

    @Test func halfAndBFloatDecodingIsExactForEveryBitPatternOnEveryPath() {
        // Every pattern, at an odd offset so loads are unaligned and the vector tail runs.
        var bytes = [UInt8](repeating: 0, count: 1 + 2 * 65536 + 6)
        for pattern in 0...0xFFFF {
            bytes[1 + 2 * pattern] = UInt8(pattern & 0xFF)
            bytes[2 + 2 * pattern] = UInt8(pattern >> 8)
        }
        let count = 65536 + 3
        let decoded = Self.onEachPath { _ -> ([Float], [Float]) in
            var f16 = [Float](repeating: 0, count: count), bf16 = [Float](repeating: 0, count: count)
            bytes.withUnsafeBytes { raw in
                let start = UnsafeRawBufferPointer(rebasing: raw[1...])
                f16.withUnsafeMutableBufferPointer { TensorDType.f16.decodeFloats(start, count: count, into: $0) }
                bf16.withUnsafeMutableBufferPointer { TensorDType.bf16.decodeFloats(start, count: count, into: $0) }
            }
            return (f16, bf16)
        }
        for (f16, bf16) in decoded {
            var wrong = 0
            for pattern in 0...0xFFFF {
                let expected = Float(Float16(bitPattern: UInt16(pattern)))   // NaNs come out quiet
                if f16[pattern].bitPattern != expected.bitPattern { wrong += 1 }
                if bf16[pattern].bitPattern != UInt32(pattern) << 16 { wrong += 1 }
            }
            #expect(wrong == 0)
        }
        #expect(decoded.allSatisfy { $0.0.map(\.bitPattern) == decoded[0].0.map(\.bitPattern) })
    }
}
