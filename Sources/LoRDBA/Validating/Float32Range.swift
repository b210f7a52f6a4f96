/// Whether a module's checks stayed inside the Float32 range.
///
/// Scales are finite (the reader refuses anything else), but finite scales can still be too
/// large for the check's arithmetic: the sign kernel and the dense reference then both produce
/// infinities, NaNs or values rounded beyond recognition, and their difference says nothing
/// about the kernel. Such a module is reported as a Float32 overflow
/// (``ValidationStatus/floatOverflow(modules:)``), never as a kernel mismatch.
enum Float32Range {
    /// The largest magnitude any value in either computation can reach over the given inputs,
    /// in Double: for token `t` every product `aᵢ·xᵢ`, partial sum of step 1, `zⱼ = mⱼ·Σ…`,
    /// partial sum of step 2 and output `yₒ` is at most
    /// `Σᵢ|aᵢ·xᵢ| · max(1, Σⱼ|mⱼ|) · max(1, maxₒ|bₒ|)`, and every entry `bₒ·mⱼ` of `B̂` at most
    /// `maxₒ|bₒ| · maxⱼ|mⱼ|`.
    static func bound(_ module: BinaryModule, x: [Float], tokens: Int) -> (value: Double, term: String) {
        let width = module.inFeatures
        let input = module.scales.input
        var inputSum = 0.0
        for t in 0..<tokens {
            var sum = 0.0
            for i in 0..<width { sum += abs(Double(x[t * width + i]) * Double(input?[i] ?? 1)) }
            inputSum = Swift.max(inputSum, sum)
        }
        let middleSum = module.scales.middle.reduce(0.0) { $0 + abs(Double($1)) }
        let middleMax = module.scales.middle.reduce(0.0) { Swift.max($0, abs(Double($1))) }
        let outputMax = module.scales.output.reduce(0.0) { Swift.max($0, abs(Double($1))) }
        let chain = inputSum * Swift.max(1, middleSum) * Swift.max(1, outputMax)
        let folded = outputMax * middleMax
        return chain >= folded
            ? (chain, "Σ|a·x| × Σ|m| × max|b|")
            : (folded, "max|b| × max|m| (an entry of B̂)")
    }

    /// Why a module whose kernel check failed cannot be judged, or nil when its arithmetic
    /// stayed in range (the failure is then a real kernel mismatch): the bound above exceeds
    /// the largest Float32, or an output is not finite although inputs and scales are.
    static func overflow(_ module: BinaryModule, x: [Float], tokens: Int, outputs: [[Float]]) -> String? {
        let (value, term) = bound(module, x: x, tokens: tokens)
        let largest = Double(Float.greatestFiniteMagnitude)
        if value > largest {
            return "\(term) reaches \(Inspector.shortNumber(value)) on the check's inputs, above the largest float32 "
                + Inspector.shortNumber(largest)
        }
        if outputs.contains(where: { !$0.allSatisfy(\.isFinite) }) {
            return "the outputs hold infinities or NaNs (\(term) \(Inspector.shortNumber(value)) on the check's inputs)"
        }
        return nil
    }
}
