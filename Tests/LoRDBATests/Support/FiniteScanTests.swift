import Testing
@testable import LoRDBA

@Suite struct FiniteScanTests {
    /// Every position (vector body and tail) and every kind of non-finite value is found, and
    /// the first one wins; the largest finite values and subnormals pass.
    @Test func findsTheFirstNonFiniteValueAnywhere() {
        var rng = SeededGenerator(seed: 11)
        for count in [0, 1, 15, 16, 17, 40, 257] {
            var values = (0..<count).map { _ in Float(Double(rng.next() % 2001) - 1000) / 7 }
            if count > 2 { values[0] = .greatestFiniteMagnitude; values[1] = -.leastNonzeroMagnitude }
            #expect(FiniteScan.firstNonFinite(values) == nil, "count \(count)")
            for position in [0, count / 2, count - 1] where count > 0 {
                for bad in [Float.nan, .infinity, -.infinity, Float(bitPattern: 0x7FC0_0001)] {
                    var copy = values
                    copy[position] = bad
                    if position + 1 < count { copy[count - 1] = .nan }
                    #expect(FiniteScan.firstNonFinite(copy) == position, "count \(count) position \(position) \(bad)")
                }
            }
        }
    }
}
