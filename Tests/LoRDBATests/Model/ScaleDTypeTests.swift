import Testing
@testable import LoRDBA

@Suite struct E4M3Tests {
    @Test func knownCodes() {
        #expect(E4M3.float(0x00) == 0)
        #expect(E4M3.float(0x01) == 0x1p-9)            // smallest subnormal
        #expect(E4M3.float(0x08) == 0x1p-6)            // smallest normal
        #expect(E4M3.float(0x38) == 1)
        #expect(E4M3.float(0x7E) == 448)               // largest finite
        #expect(E4M3.float(0x7F).isNaN)
        #expect(E4M3.float(0xB8) == -1)
    }

    @Test func roundsToNearestEvenAndSaturates() {
        for code in UInt8(0)...0x7E { #expect(E4M3.bits(E4M3.float(code)) == code) }
        #expect(E4M3.bits(1.0625) == 0x38)             // halfway between 1 and 1.125: ties to even (1.0)
        #expect(E4M3.bits(1.1875) == 0x3A)             // halfway between 1.125 and 1.25: ties to even (1.25)
        #expect(E4M3.bits(1000) == 0x7E)
        #expect(E4M3.bits(-1000) == 0xFE)
        #expect(E4M3.bits(0x1p-11) == 0x00)            // below half the smallest subnormal
    }

    /// The bit-twiddling encoder and decoder against the table and the binary-search reference:
    /// every code, every rounding boundary (midpoints between neighbouring codes) and the float
    /// on either side of it, the saturation edge, and a sweep over all float bit patterns.
    @Test func fastEncodeAndDecodeMatchTheReference() {
        for code in 0...255 {
            let fast = E4M3.float(UInt8(code)), table = E4M3.values[code]
            #expect(fast.bitPattern == table.bitPattern || (fast.isNaN && table.isNaN), "code \(code)")
        }
        var probes: [Float] = [0, -0.0, .infinity, -.infinity, .nan, 448, 464, 480, .greatestFiniteMagnitude,
                               .leastNonzeroMagnitude, .leastNormalMagnitude]
        let finite = E4M3.positive.map(\.value)
        for (below, above) in zip(finite, finite.dropFirst()) {
            let middle = (below + above) / 2
            probes += [below, middle, middle.nextDown, middle.nextUp, above]
        }
        var pattern: UInt32 = 0
        repeat { probes.append(Float(bitPattern: pattern)); pattern &+= 65_521 } while pattern >= 65_521
        for value in probes + probes.map({ -$0 }) {
            #expect(E4M3.bits(value) == E4M3.bitsBySearch(value), "value \(value) (bits \(value.bitPattern))")
        }
    }

    @Test func e4m3ScalesRoundTripThroughTheFile() throws {
        var rng = SeededGenerator(seed: 3)
        let m = BinarizerTests.module(a: rng.gaussianMatrix(rows: 3, cols: 40), b: rng.gaussianMatrix(rows: 20, cols: 3), scale: 1)
        let binary = Binarizer(scaleDType: .e4m3).binarize(m).module
        #expect(binary.scales.input!.max() == 256)
        let adapter = BinaryAdapter(layout: .peft, modules: [binary], carried: [], metadata: [:], scaleDType: .e4m3)
        let file = try LBAFile(bytes: LBAWriter().encode(adapter).bytes)
        #expect(file.adapter.scaleDType == .e4m3)
        #expect(file.adapter.modules[0].scales == binary.scales)
    }
}

@Suite struct ScaleDTypeFinitenessTests {
    /// `storesFinite` is `rounded(_:).isFinite` for every dtype, at the edges of each range.
    @Test func storesFiniteAgreesWithRounding() {
        var rng = SeededGenerator(seed: 3)
        var values: [Float] = [0, -0.0, 448, 449, 464, 65504, 65519, 65520, 65536, .greatestFiniteMagnitude,
                               Float(bitPattern: 0x7F7F_0000), Float(bitPattern: 0x7F7F_7FFF), Float(bitPattern: 0x7F7F_8000),
                               .infinity, -.infinity, .nan]
        values += values.map { -$0 } + values.map(\.nextUp) + values.map(\.nextDown)
        for _ in 0..<5000 { values.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        for dtype in ScaleDType.allCases {
            for v in values { #expect(dtype.storesFinite(v) == dtype.rounded(v).isFinite, "\(dtype) \(v)") }
        }
    }

    /// `firstNotStoredFinite` finds the first value `storesFinite` refuses, or none, whether the
    /// offending value is in range of the fast pass or past it.
    @Test func firstNotStoredFiniteFindsTheFirstRefusedValue() {
        let inRange: [Float] = (0..<100).map { Float($0) * 0.37 - 11 }
        for dtype in ScaleDType.allCases {
            #expect(dtype.firstNotStoredFinite(inRange) == nil)
            #expect(dtype.firstNotStoredFinite([]) == nil)
            for bad: Float in [.nan, .infinity, -.infinity, 1e30, -70000] {
                for position in [0, 57, 99] {
                    var values = inRange
                    values[position] = bad
                    values[99] = position == 99 ? bad : 1e31   // a later value too, refused or not
                    let expected = values.first { !dtype.storesFinite($0) }
                    let found = dtype.firstNotStoredFinite(values)
                    #expect(found?.bitPattern == expected?.bitPattern || (found?.isNaN == true && expected?.isNaN == true),
                            "\(dtype) \(bad) at \(position)")
                }
            }
        }
    }
}
