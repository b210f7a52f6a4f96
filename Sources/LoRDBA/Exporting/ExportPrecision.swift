#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What casting a module's exported factors to ``ExportDType`` does to its ΔW, and the bound an
/// export must meet.
///
/// The error is `‖B'A' − B̃Ã‖_F / ‖B'A'‖_F` with `B̃`, `Ã` the factors as stored in the target
/// type. It is computed from `2k × 2k` Gram matrices of the split `B'·(A' − Ã) + (B' − B̃)·Ã`, so
/// nothing `out × in` is formed and no large terms cancel.
public enum ExportPrecision {
    /// The largest relative ΔW change an export accepts per module: above it a value has
    /// overflowed or underflowed the type (even after ``DequantizedModule/balanced()``) and the
    /// export is refused. One rounding per factor entry stays well inside these (2⁻¹¹ for f16,
    /// 2⁻⁸ for bf16, 2⁻²⁴ for f32, relative, per entry).
    public static func bound(_ dtype: ExportDType) -> Double {
        switch dtype {
        case .f32: 1e-6
        case .f16: 1e-3
        case .bf16: 8e-3
        }
    }

    /// `values` rounded to `dtype` and back (what a reader of the exported tensor gets).
    public static func rounded(_ values: [Float], to dtype: ExportDType) -> [Float] {
        switch dtype {
        case .f32: values
        case .f16: values.map { Float(Float16($0)) }
        case .bf16: values.map { BFloat16Bits.float(BFloat16Bits.bits($0)) }
        }
    }

    /// The relative change of `module`'s ΔW when its factors are stored in `dtype`
    /// (0 for a zero module; infinity when a value overflows the type).
    public static func relativeError(_ module: DequantizedModule, dtype: ExportDType) -> Double {
        let (k, n, o) = (module.rank, module.inFeatures, module.outFeatures)
        let castA = rounded(module.a, to: dtype)
        let castB = rounded(module.b, to: dtype)
        if castA.contains(where: { !$0.isFinite }) || castB.contains(where: { !$0.isFinite }) { return .infinity }
        // A `2k × 2k` Gram matrix larger than `out × in` (k above the module's size, as only a
        // crafted file has): sum the entries directly instead, holding nothing of that size.
        let (entries, overflow) = o.multipliedReportingOverflow(by: n)
        let (gram, gramOverflow) = (2 * k).multipliedReportingOverflow(by: 2 * k)
        if !overflow, gramOverflow || entries < gram {
            return entrywiseError(module, castA: castA, castB: castB)
        }
        let bT = Matrix(rows: o, cols: k, values: module.b).transposed()
        let castBT = Matrix(rows: o, cols: k, values: castB).transposed()
        var errorA = Matrix(rows: k, cols: n, values: module.a)
        for i in errorA.values.indices { errorA.values[i] -= castA[i] }
        var errorBT = bT
        for i in errorBT.values.indices { errorBT.values[i] -= castBT.values[i] }
        let exact = LowRankProduct(a: Matrix(rows: k, cols: n, values: module.a), bTransposed: bT)
        // B'·(A' − Ã) + (B' − B̃)·Ã as one product of 2k channels.
        let difference = LowRankProduct(a: errorA.stacking(Matrix(rows: k, cols: n, values: castA)),
                                        bTransposed: bT.stacking(errorBT))
        let reference = exact.normSquared
        guard reference > 0 else { return difference.normSquared > 0 ? .infinity : 0 }
        return (Swift.max(difference.normSquared, 0) / reference).squareRoot()
    }

    /// ``relativeError(_:dtype:)`` summed entry by entry (`O(1)` memory, `out·in·k` steps).
    static func entrywiseError(_ module: DequantizedModule, castA: [Float], castB: [Float]) -> Double {
        let (k, n, o) = (module.rank, module.inFeatures, module.outFeatures)
        var reference = 0.0, difference = 0.0
        for r in 0..<o {
            for c in 0..<n {
                var exact = 0.0, cast = 0.0
                for j in 0..<k {
                    exact += Double(module.b[r * k + j]) * Double(module.a[j * n + c])
                    cast += Double(castB[r * k + j]) * Double(castA[j * n + c])
                }
                reference += exact * exact
                difference += (exact - cast) * (exact - cast)
            }
        }
        guard reference > 0 else { return difference > 0 ? .infinity : 0 }
        return (difference / reference).squareRoot()
    }

    /// A relative change as `3.1e-4` (two significant digits).
    public static func text(_ value: Double) -> String {
        guard value.isFinite, value > 0 else { return value == 0 ? "0" : "\(value)" }
        var exponent = Int(floor(log10(value)))
        var mantissa = value / pow(10, Double(exponent))
        if Format.fixed(mantissa, 1) == "10.0" { mantissa /= 10; exponent += 1 }
        return Format.fixed(mantissa, 1) + "e" + String(exponent)
    }
}
