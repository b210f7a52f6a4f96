/// The outcome of a validation and its exit code.
public enum ValidationStatus: Sendable, Equatable {
    /// Every check passed (exit code 0).
    case passed
    /// The sign kernel disagrees with the dense reference beyond the tolerance (exit code 1).
    case kernelMismatch(modules: [String])
    /// Fidelity exceeds `--max-error` (exit code 3); kernel mismatches and overflows take precedence.
    case fidelityExceeded(modules: [String])
    /// A module's kernel check left the Float32 range (its scales, finite as stored, are too
    /// large for the arithmetic at its shape): the kernel is not judged there (exit code 4); a
    /// real kernel mismatch in another module takes precedence.
    case floatOverflow(modules: [String])

    /// Exit code for an unreadable or invalid input (the `.lba` or the reference).
    public static let unreadableInputExitCode: Int32 = 1

    /// The process exit code: 0, 1, 3 or 4.
    public var exitCode: Int32 {
        switch self {
        case .passed: 0
        case .kernelMismatch: 1
        case .fidelityExceeded: 3
        case .floatOverflow: 4
        }
    }

    /// `passed`, `kernel_mismatch`, `fidelity_exceeded` or `float_overflow`.
    public var name: String {
        switch self {
        case .passed: "passed"
        case .kernelMismatch: "kernel_mismatch"
        case .fidelityExceeded: "fidelity_exceeded"
        case .floatOverflow: "float_overflow"
        }
    }

    /// The status of `modules`: kernel differences above `tolerance` fail first (a module whose
    /// check overflowed Float32 as a float overflow, every other one as a kernel mismatch);
    /// then, when `maxError` is given, fidelities above it (a module without a fidelity never
    /// fails it). NaN differences count as failures.
    public static func evaluate(_ modules: [ModuleValidation], tolerance: Double, maxError: Double?) -> ValidationStatus {
        let failed = modules.filter { !($0.kernelDifferenceMax <= tolerance) }
        let mismatched = failed.filter { $0.overflow == nil }.map(\.name)
        if !mismatched.isEmpty { return .kernelMismatch(modules: mismatched) }
        if !failed.isEmpty { return .floatOverflow(modules: failed.map(\.name)) }
        if let maxError {
            let exceeded = modules.filter { m in m.fidelity.map { !($0 <= maxError) } ?? false }.map(\.name)
            if !exceeded.isEmpty { return .fidelityExceeded(modules: exceeded) }
        }
        return .passed
    }
}

/// Everything a validation run found.
public struct ValidationResult: Sendable {
    /// The validated `.lba`.
    public var path: String
    public var options: ValidationOptions
    public var modules: [ModuleValidation]
    /// Per distinct module shape; empty when timing was off.
    public var timings: [ShapeTiming]
    /// OpenBLAS's configuration string when it was used for timing.
    public var openBLAS: String?
    /// Why OpenBLAS was not used (when timing without it).
    public var openBLASProblem: String?
    /// Shapes not timed because their timing would exceed the memory limit.
    public var untimedShapes: [UntimedShape]
    public var status: ValidationStatus

    public init(path: String, options: ValidationOptions, modules: [ModuleValidation], timings: [ShapeTiming],
                openBLAS: String?, openBLASProblem: String?, untimedShapes: [UntimedShape] = []) {
        self.untimedShapes = untimedShapes
        self.path = path
        self.options = options
        self.modules = modules
        self.timings = timings
        self.openBLAS = openBLAS
        self.openBLASProblem = openBLASProblem
        status = ValidationStatus.evaluate(modules, tolerance: options.tolerance, maxError: options.maxError)
    }

    /// Largest kernel difference over all modules and both input types (NaN when any is NaN).
    public var kernelDifferenceMax: Double {
        let values = modules.map(\.kernelDifferenceMax)
        return values.contains(where: \.isNaN) ? .nan : values.max() ?? 0
    }

    /// Adapter-wide fidelity `√(Σ‖Y_lba − Y_lora‖²/Σ‖Y_lora‖²)` over all modules (with a reference).
    public var fidelityOverall: Double? {
        let pairs = modules.compactMap { m in m.errorEnergy.flatMap { e in m.referenceEnergy.map { (e, $0) } } }
        guard !pairs.isEmpty, pairs.count == modules.count else { return nil }
        let reference = pairs.reduce(0) { $0 + $1.1 }
        return reference > 0 ? (pairs.reduce(0) { $0 + $1.0 } / reference).squareRoot() : 0
    }

    /// Largest module fidelity.
    public var fidelityMax: Double? { modules.compactMap(\.fidelity).max() }

    /// Median module fidelity and product error.
    public var fidelityMedian: Double? { Median.of(modules.compactMap(\.fidelity)) }
    public var productErrorMedian: Double? { Median.of(modules.compactMap(\.productError)) }

    /// Adapter totals per timed token count: each shape's time times its module count.
    public var timingTotals: [TimingPoint] {
        guard let first = timings.first else { return [] }
        return first.points.indices.map { i in
            var sign = 0.0, dense = 0.0, base: Double? = 0
            for shape in timings {
                let p = shape.points[i]
                sign += p.signSeconds * Double(shape.modules)
                dense += p.denseSeconds * Double(shape.modules)
                base = base.flatMap { b in p.baseSeconds.map { b + $0 * Double(shape.modules) } }
            }
            return TimingPoint(tokens: first.points[i].tokens, signSeconds: sign, denseSeconds: dense,
                               denseBackend: first.points[i].denseBackend, baseSeconds: base)
        }
    }
}
