import Testing
@testable import LoRDBA

/// The input check's peak (an integer max over |value| bit patterns) against the plain
/// definition: the bound it reports, which tensor it blames, and that ±∞ is caught and NaN skipped.
@Suite struct NumericLimitsTests {
    static func module(a: [Float], b: [Float], scale: Double = 1) -> LoRAModule {
        BinarizerTests.module(a: Matrix(rows: 1, cols: a.count, values: a), b: Matrix(rows: b.count, cols: 1, values: b),
                              scale: scale)
    }

    @Test func peakMatchesTheDoubleMaximumOfMagnitudes() {
        var rng = SeededGenerator(seed: 11)
        for _ in 0..<20 {
            // Wide dynamic range, both signs, −0, subnormals: the reported bound is scale·r·maxA·maxB·√(in·out).
            let a = (0..<37).map { _ in Float.random(in: -1...1, using: &rng) * Float(sign: .plus, exponent: Int.random(in: -140...40, using: &rng), significand: 1) } + [-0.0, .leastNonzeroMagnitude]
            let b = (0..<5).map { _ in Float.random(in: -1...1, using: &rng) * 1e30 }
            let maxA = a.reduce(0.0) { Swift.max($0, Double(abs($1))) }, maxB = b.reduce(0.0) { Swift.max($0, Double(abs($1))) }
            let bound = maxA * maxB * (Double(a.count) * Double(b.count)).squareRoot()
            let problem = NumericLimits.inputProblem(Self.module(a: a, b: b))
            if bound <= NumericLimits.maximumProductNorm {
                #expect(problem == nil)
            } else {
                #expect(problem?.tensor == (maxA >= maxB ? "m.lora_A.weight" : "m.lora_B.weight"))
                #expect(problem?.problem.contains("\(bound)") == true)
            }
        }
    }

    @Test func infinityIsCaughtAndNaNIsSkippedAsBefore() {
        #expect(NumericLimits.inputProblem(Self.module(a: [1, -.infinity], b: [1]))?.tensor == "m.lora_A.weight")
        #expect(NumericLimits.inputProblem(Self.module(a: [1], b: [.infinity]))?.tensor == "m.lora_B.weight")
        #expect(NumericLimits.inputProblem(Self.module(a: [.nan, 2], b: [1])) == nil)
        // NaN and the peak inside the vector part of the scan (8 floats at a time), and in its tail.
        for (nanAt, peakAt) in [(3, 17), (17, 3), (9, 20)] {
            var a = [Float](repeating: 0.5, count: 21)
            a[nanAt] = .nan
            a[peakAt] = -4e20
            let problem = NumericLimits.inputProblem(Self.module(a: a, b: [1]))
            #expect(problem?.problem.contains("\(Double(Float(4e20)) * 21.0.squareRoot())") == true)
        }
        // A huge A blames A through the bound, with the NaN-free peak.
        let problem = NumericLimits.inputProblem(Self.module(a: [.nan, -3e20], b: [1e-2]))
        #expect(problem?.tensor == "m.lora_A.weight")
        #expect(problem?.problem.contains("\(Double(Float(3e20)) * Double(Float(1e-2)) * 2.0.squareRoot())") == true)
    }
}
