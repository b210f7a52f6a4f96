@testable import LoRDBA

/// Relative Frobenius difference `‖a − b‖/‖b‖` (the absolute `‖a − b‖` when `b` is zero).
func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, norm = 0.0
    for i in a.indices {
        let d = Double(a[i]) - Double(b[i])
        diff += d * d
        norm += Double(b[i]) * Double(b[i])
    }
    return norm > 0 ? (diff / norm).squareRoot() : diff.squareRoot()
}

/// Seeded activations in [-2, 2).
func activations(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in 4 * rng.nextUnitFloat() - 2 }
}
