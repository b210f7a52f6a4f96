/// Round-to-nearest 2-bit quantization of one row with its own step: the four symmetric levels
/// `{−3, −1, 1, 3}·Δ/2` (no zero level; `sign(0) = +1`, so a zero becomes `+Δ/2`).
///
/// The step `Δ` is the one that minimises the row's squared error under round-to-nearest
/// (not the absmax rule `Δ = max|x|/1.5`, which clips nothing and so wastes the outer levels
/// on the largest entry): for any `Δ`, rounding to nearest sends `|x| < Δ` to the inner level
/// and `|x| ≥ Δ` to the outer one, so the optimum is among the `n + 1` splits of the sorted
/// magnitudes, each with its least-squares step
/// `Δ = (½·Σ_inner|x| + 3⁄2·Σ_outer|x|) / (¼·n_inner + 9⁄4·n_outer)`.
/// Enumerating them finds the exact global optimum in `O(n log n)`.
public enum TwoBitQuantizer {
    /// The step `Δ` minimising `Σ (x − q_Δ(x))²`, where `q_Δ` rounds to the nearest level (0 for an empty or all-zero row).
    public static func optimalStep<C: Collection>(_ row: C) -> Double where C.Element == Float {
        let magnitudes = row.map { Double(abs($0)) }.sorted()
        let n = magnitudes.count
        guard n > 0 else { return 0 }
        let total = magnitudes.reduce(0, +)
        guard total > 0 else { return 0 }
        let energy = magnitudes.reduce(0) { $0 + $1 * $1 }
        var bestStep = 0.0
        var bestError = Double.infinity
        var inner = 0.0
        // Split k: the k smallest magnitudes take the inner level, the rest the outer.
        for k in 0...n {
            if k > 0 { inner += magnitudes[k - 1] }
            let numerator = 0.5 * inner + 1.5 * (total - inner)
            let denominator = 0.25 * Double(k) + 2.25 * Double(n - k)
            let error = energy - numerator * numerator / denominator
            if error < bestError {
                bestError = error
                bestStep = numerator / denominator
            }
        }
        return bestStep
    }

    /// `x` rounded to the nearest of `{−3, −1, 1, 3}·Δ/2` (ties at `|x| = Δ` go outward).
    @inlinable
    public static func quantize(_ x: Float, step: Float) -> Float {
        let magnitude: Float = abs(x) < step ? 0.5 * step : 1.5 * step
        return x < 0 ? -magnitude : magnitude
    }

    /// Every row of `matrix` quantized with its own optimal step; returns the dequantized matrix and the steps.
    public static func quantizeRows(_ matrix: Matrix) -> (values: Matrix, steps: [Float]) {
        var out = matrix
        var steps: [Float] = []
        steps.reserveCapacity(matrix.rows)
        for r in 0..<matrix.rows {
            let range = (r * matrix.cols)..<((r + 1) * matrix.cols)
            let step = Float(optimalStep(matrix.values[range]))
            steps.append(step)
            for i in range { out.values[i] = quantize(matrix.values[i], step: step) }
        }
        return (out, steps)
    }
}
