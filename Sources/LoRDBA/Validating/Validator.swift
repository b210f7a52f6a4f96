/// Settings of a validation run (`lordba-validate`).
public struct ValidationOptions: Sendable {
    /// Seeded Gaussian input rows per module for the correctness and fidelity checks.
    public var tokens = 512
    /// Seed of the inputs.
    public var seed: UInt64 = 1
    /// Threads for the kernels (and for OpenBLAS while timing).
    public var threads = ProcessInfoCores.count
    /// The original LoRA (safetensors file or adapter folder) for the fidelity check.
    public var referencePath: String?
    /// Largest fidelity error a module may have (requires `referencePath`).
    public var maxError: Double?
    /// Largest relative difference between the sign kernel and the dense reference.
    public var tolerance = 1e-5
    /// Whether to time the sign path, the dense branch and the base GEMM.
    public var timing = true
    /// Token counts timed.
    public var timingTokens = [1, 512]
    /// Samples per timing (the median is reported).
    public var timingSamples = 5
    /// Minimum seconds per timing sample.
    public var timingMinimumSeconds = 0.01
    /// Most working memory one module's checks may need, in bytes (1 GiB): a module whose
    /// inputs, outputs and expanded factors would need more is refused before allocating.
    public var memoryLimit = 1 << 30

    public init() {}
}

/// What the validator measured for one module.
public struct ModuleValidation: Sendable, Equatable {
    public var name: String
    public var kind: ModuleKind
    public var inFeatures: Int
    public var outFeatures: Int
    /// The original LoRA rank `r`.
    public var rank: Int
    /// The binary rank `k`.
    public var binaryRank: Int
    /// `‖Y_sign − Y_dense‖_F/‖Y_dense‖_F` on Float32 inputs: the sign kernel against the dense
    /// reference (`Â`, `B̂` expanded to Float32) on the same inputs.
    public var kernelDifference: Double
    /// The same on the inputs rounded to Float16 (the kernel's Float16 entry point).
    public var kernelDifferenceHalf: Double
    /// `‖Y_lba − Y_lora‖_F/‖Y_lora‖_F`: the sign kernel against the original LoRA (with a reference).
    public var fidelity: Double?
    /// The report's exact product error `‖sBA − B̂Â‖_F/‖sBA‖_F` (with a reference); on isotropic
    /// inputs the fidelity's expectation (in the mean-square sense) equals it.
    public var productError: Double?
    /// `‖Y_lba − Y_lora‖_F²` and `‖Y_lora‖_F²`, for the adapter-wide figure.
    public var errorEnergy: Double?
    public var referenceEnergy: Double?

    /// The larger of the two kernel differences (NaN when either is NaN).
    public var kernelDifferenceMax: Double {
        kernelDifference.isNaN || kernelDifferenceHalf.isNaN ? .nan : Swift.max(kernelDifference, kernelDifferenceHalf)
    }

    public init(name: String, kind: ModuleKind, inFeatures: Int, outFeatures: Int, rank: Int, binaryRank: Int,
                kernelDifference: Double, kernelDifferenceHalf: Double, fidelity: Double? = nil,
                productError: Double? = nil, errorEnergy: Double? = nil, referenceEnergy: Double? = nil) {
        self.name = name
        self.kind = kind
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rank = rank
        self.binaryRank = binaryRank
        self.kernelDifference = kernelDifference
        self.kernelDifferenceHalf = kernelDifferenceHalf
        self.fidelity = fidelity
        self.productError = productError
        self.errorEnergy = errorEnergy
        self.referenceEnergy = referenceEnergy
    }
}

/// Timings of one module shape (every module of the shape runs the same code).
public struct ShapeTiming: Sendable, Equatable {
    public var inFeatures: Int
    public var outFeatures: Int
    public var rank: Int
    public var binaryRank: Int
    /// How many modules of the adapter have this shape.
    public var modules: Int
    public var points: [TimingPoint]

    public init(inFeatures: Int, outFeatures: Int, rank: Int, binaryRank: Int, modules: Int, points: [TimingPoint]) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rank = rank
        self.binaryRank = binaryRank
        self.modules = modules
        self.points = points
    }
}

/// Median seconds per call at one token count.
public struct TimingPoint: Sendable, Equatable {
    public var tokens: Int
    /// The sign path (``SignGEMM``).
    public var signSeconds: Double
    /// The dense Float32 LoRA branch (`x·Aᵀ`, then `·Bᵀ`) at rank `r`.
    public var denseSeconds: Double
    /// What computed the dense branch: `"openblas"` or `"swift"` (our dense reference, when
    /// OpenBLAS is not installed).
    public var denseBackend: String
    /// The base layer's own GEMM (`T×in · in×out`, Float32, OpenBLAS); nil without OpenBLAS.
    public var baseSeconds: Double?

    public init(tokens: Int, signSeconds: Double, denseSeconds: Double, denseBackend: String, baseSeconds: Double?) {
        self.tokens = tokens
        self.signSeconds = signSeconds
        self.denseSeconds = denseSeconds
        self.denseBackend = denseBackend
        self.baseSeconds = baseSeconds
    }

    /// Sign path time over dense branch time.
    public var signOverDense: Double { signSeconds / denseSeconds }
    /// Sign path time over the base GEMM's: the adapter's overhead on the layer.
    public var overhead: Double? { baseSeconds.map { signSeconds / $0 } }
}

/// The outcome of a validation and its exit code.
public enum ValidationStatus: Sendable, Equatable {
    /// Every check passed (exit code 0).
    case passed
    /// The sign kernel disagrees with the dense reference beyond the tolerance (exit code 1).
    case kernelMismatch(modules: [String])
    /// Fidelity exceeds `--max-error` (exit code 3); kernel mismatches take precedence.
    case fidelityExceeded(modules: [String])

    /// Exit code for an unreadable or invalid input (the `.lba` or the reference).
    public static let unreadableInputExitCode: Int32 = 1

    /// The process exit code: 0, 1 or 3.
    public var exitCode: Int32 {
        switch self {
        case .passed: 0
        case .kernelMismatch: 1
        case .fidelityExceeded: 3
        }
    }

    /// `passed`, `kernel_mismatch` or `fidelity_exceeded`.
    public var name: String {
        switch self {
        case .passed: "passed"
        case .kernelMismatch: "kernel_mismatch"
        case .fidelityExceeded: "fidelity_exceeded"
        }
    }

    /// The status of `modules`: kernel differences above `tolerance` fail first; then, when
    /// `maxError` is given, fidelities above it (a module without a fidelity never fails it).
    /// NaN differences count as failures.
    public static func evaluate(_ modules: [ModuleValidation], tolerance: Double, maxError: Double?) -> ValidationStatus {
        let mismatched = modules.filter { !($0.kernelDifferenceMax <= tolerance) }.map(\.name)
        if !mismatched.isEmpty { return .kernelMismatch(modules: mismatched) }
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
    public var status: ValidationStatus

    public init(path: String, options: ValidationOptions, modules: [ModuleValidation], timings: [ShapeTiming],
                openBLAS: String?, openBLASProblem: String?) {
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
    public var fidelityMedian: Double? { Self.median(modules.compactMap(\.fidelity)) }
    public var productErrorMedian: Double? { Self.median(modules.compactMap(\.productError)) }

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

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

/// Why a validation could not run; every description is one line naming the file and the problem.
public enum ValidatorError: Error, CustomStringConvertible, Equatable {
    /// The `.lba` is unreadable or invalid (nothing was computed).
    case lba(LBAError)
    /// The reference adapter is unreadable or invalid.
    case reference(AdapterError)
    /// The reference does not hold the adapter the `.lba` was converted from.
    case referenceMismatch(path: String, module: String, problem: String)
    /// Options that cannot work together.
    case invalidOptions(String)
    /// Checking a module would need more working memory than ``ValidationOptions/memoryLimit``.
    case tooLarge(path: String, module: String, bytes: Double, limit: Int)

    public var description: String {
        switch self {
        case .lba(let e): e.description
        case .reference(let e): e.description
        case .referenceMismatch(let path, let module, let problem):
            LBAError.oneLine("\(path): \(LBAError.quote(module)): \(problem)")
        case .invalidOptions(let text): LBAError.oneLine(text)
        case .tooLarge(let path, let module, let bytes, let limit):
            LBAError.oneLine("\(path): module \(LBAError.quote(module)): checking it needs about \(Format.bytes(Int(min(bytes, 9e18)))) of working memory, above the limit of \(Format.bytes(limit)) (fewer --tokens lowers it)")
        }
    }
}

/// Checks a `.lba` the way a device will run it: the sign kernel against the dense reference,
/// the result against the original LoRA, and the speed of both.
public enum Validator {
    /// Loads and fully validates `path` (a corrupted file is rejected here, before any
    /// computation), opens the reference when given, and runs every check.
    public static func validate(path: String, options: ValidationOptions = ValidationOptions()) throws(ValidatorError) -> ValidationResult {
        if options.maxError != nil && options.referencePath == nil {
            throw .invalidOptions("--max-error needs --reference: fidelity is measured against the original LoRA")
        }
        guard options.tokens >= 1 else { throw .invalidOptions("--tokens must be at least 1") }
        let file: LBAFile
        do { file = try LBAFile(path: path) } catch { throw .lba(error) }
        var reference: AdapterSource?
        if let referencePath = options.referencePath {
            do { reference = try AdapterSource.open(referencePath) } catch { throw .reference(error) }
        }
        return try validate(file: file, path: path, reference: reference, options: options)
    }

    /// Runs the checks on an already validated file.
    public static func validate(file: LBAFile, path: String, reference: AdapterSource?,
                                options: ValidationOptions) throws(ValidatorError) -> ValidationResult {
        let modules = file.adapter.modules
        // Working memory per module, in Double so no declared size can overflow: inputs (Float,
        // Float16, Float), five output buffers, the dense reference's and the LoRA's factors.
        let tokens = Double(Swift.max(options.tokens, options.timing ? options.timingTokens.max() ?? 0 : 0))
        for module in modules {
            let inF = Double(module.inFeatures), outF = Double(module.outFeatures)
            let bytes = 4 * (3 * tokens * inF + 5 * tokens * outF + Double(2 * module.binaryRank + module.loraRank) * (inF + outF))
            guard bytes <= Double(options.memoryLimit) else {
                throw .tooLarge(path: path, module: module.name, bytes: bytes, limit: options.memoryLimit)
            }
        }
        var specs: [ModuleSpec?] = Array(repeating: nil, count: modules.count)
        if let reference {
            let byName = Dictionary(reference.modules.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            for (i, module) in modules.enumerated() {
                guard let spec = byName[module.name] else {
                    throw .referenceMismatch(path: reference.weightsPath, module: module.name,
                                             problem: "not in the reference adapter, which has \(reference.modules.count) modules")
                }
                guard spec.inFeatures == module.inFeatures, spec.outFeatures == module.outFeatures else {
                    throw .referenceMismatch(
                        path: reference.weightsPath, module: module.name,
                        problem: "shape \(spec.inFeatures)→\(spec.outFeatures) in the reference, \(module.inFeatures)→\(module.outFeatures) in \(path)")
                }
                specs[i] = spec
            }
            let names = Set(modules.map(\.name))
            if let extra = reference.modules.first(where: { !names.contains($0.name) }) {
                throw .referenceMismatch(path: reference.weightsPath, module: extra.name,
                                         problem: "in the reference but not in \(path)")
            }
        }

        var inputs = InputCache(tokens: options.tokens, seed: options.seed)
        var results: [ModuleValidation] = []
        results.reserveCapacity(modules.count)
        for (i, module) in modules.enumerated() {
            let kernel = SignGEMM(module)
            let dense = DenseLowRank(binary: module)
            let (x, xHalf, xHalfFloat) = inputs.inputs(width: module.inFeatures)
            let count = options.tokens * module.outFeatures
            var ySign = [Float](repeating: 0, count: count)
            var yDense = ySign
            kernel.apply(x, tokens: options.tokens, into: &ySign, threads: options.threads)
            dense.apply(x, tokens: options.tokens, into: &yDense, threads: options.threads)
            var yHalf = [Float](repeating: 0, count: count)
            var yHalfDense = yHalf
            kernel.apply(xHalf, tokens: options.tokens, into: &yHalf, threads: options.threads)
            dense.apply(xHalfFloat, tokens: options.tokens, into: &yHalfDense, threads: options.threads)
            var result = ModuleValidation(
                name: module.name, kind: module.kind, inFeatures: module.inFeatures, outFeatures: module.outFeatures,
                rank: module.loraRank, binaryRank: module.binaryRank,
                kernelDifference: relativeDifference(ySign, yDense),
                kernelDifferenceHalf: relativeDifference(yHalf, yHalfDense))
            if let reference, let spec = specs[i] {
                let lora: LoRAModule
                do { lora = try reference.load(spec) } catch { throw .reference(error) }
                var yLoRA = [Float](repeating: 0, count: count)
                DenseLowRank(lora: lora).apply(x, tokens: options.tokens, into: &yLoRA, threads: options.threads)
                let (error, energy) = differenceEnergy(ySign, yLoRA)
                result.errorEnergy = error
                result.referenceEnergy = energy
                result.fidelity = energy > 0 ? (error / energy).squareRoot() : (error == 0 ? 0 : 1)
                result.productError = ErrorAnalysis.analyze(original: lora, binary: module).productError
            }
            results.append(result)
        }

        var timings: [ShapeTiming] = []
        var blasConfig: String?
        var blasProblem: String?
        if options.timing {
            var blas: OpenBLAS?
            do {
                let loaded = try OpenBLAS.load()
                loaded.setThreads(options.threads)
                blas = loaded
                blasConfig = "\(loaded.config); core \(loaded.coreName); \(loaded.threads.map(String.init) ?? "?") threads"
            } catch {
                blasProblem = error.description
            }
            timings = time(modules, blas: blas, options: options)
        }
        return ValidationResult(path: path, options: options, modules: results, timings: timings,
                                openBLAS: blasConfig, openBLASProblem: blasProblem)
    }

    /// Times each distinct shape once at every `options.timingTokens`.
    static func time(_ modules: [BinaryModule], blas: OpenBLAS?, options: ValidationOptions) -> [ShapeTiming] {
        struct Key: Hashable { var inFeatures, outFeatures, rank, binaryRank: Int }
        var order: [Key] = []
        var first: [Key: BinaryModule] = [:]
        var counts: [Key: Int] = [:]
        for m in modules {
            let key = Key(inFeatures: m.inFeatures, outFeatures: m.outFeatures, rank: m.loraRank, binaryRank: m.binaryRank)
            if first[key] == nil { order.append(key); first[key] = m }
            counts[key, default: 0] += 1
        }
        var rng = SeededGenerator(seed: options.seed ^ 0x7469_6D65)
        func uniform(_ count: Int) -> [Float] { (0..<count).map { _ in 2 * rng.nextUnitFloat() - 1 } }
        return order.map { key in
            let kernel = SignGEMM(first[key]!)
            let a = Matrix(rows: key.rank, cols: key.inFeatures, values: uniform(key.rank * key.inFeatures))
            let b = Matrix(rows: key.outFeatures, cols: key.rank, values: uniform(key.outFeatures * key.rank))
            let weights = blas != nil ? uniform(key.outFeatures * key.inFeatures) : []
            let points = options.timingTokens.map { t in
                let x = uniform(t * key.inFeatures)
                var y = [Float](repeating: 0, count: t * key.outFeatures)
                func median(_ body: () -> Void) -> Double {
                    Timing.median(samples: options.timingSamples, minimumSeconds: options.timingMinimumSeconds, body)
                }
                let sign = median { kernel.apply(x, tokens: t, into: &y, threads: options.threads) }
                let dense: Double
                var base: Double?
                if let blas {
                    let branch = OpenBLASBranch(blas: blas, a: a, b: b, scale: 1)
                    var hidden: [Float] = []
                    dense = median { branch.apply(x, tokens: t, into: &y, hidden: &hidden) }
                    base = median {
                        blas.multiplyTransposed(x, rows: t, inner: key.inFeatures, weights, columns: key.outFeatures,
                                                into: &y, beta: 1)
                    }
                } else {
                    let branch = DenseLowRank(lora: LoRAModule(name: "", a: a, b: b, scale: 1,
                                                               source: .init(aTensor: "", bTensor: "", dtype: .f32)))
                    dense = median { branch.apply(x, tokens: t, into: &y, threads: options.threads) }
                }
                return TimingPoint(tokens: t, signSeconds: sign, denseSeconds: dense,
                                   denseBackend: blas == nil ? "swift" : "openblas", baseSeconds: base)
            }
            return ShapeTiming(inFeatures: key.inFeatures, outFeatures: key.outFeatures, rank: key.rank,
                               binaryRank: key.binaryRank, modules: counts[key]!, points: points)
        }
    }

    /// `‖a − b‖_F/‖b‖_F`, accumulated in Double (0 when both are zero, 1 when only `b` is).
    public static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        let (difference, reference) = differenceEnergy(a, b)
        if reference > 0 { return (difference / reference).squareRoot() }
        return difference == 0 ? 0 : 1
    }

    /// `(‖a − b‖², ‖b‖²)` in Double.
    static func differenceEnergy(_ a: [Float], _ b: [Float]) -> (Double, Double) {
        precondition(a.count == b.count)
        var difference = 0.0, reference = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            difference += d * d
            reference += Double(b[i]) * Double(b[i])
        }
        return (difference, reference)
    }
}

/// Seeded isotropic Gaussian inputs, one matrix per input width (modules of one width share
/// it), in Float32 and rounded to Float16.
struct InputCache {
    let tokens: Int
    let seed: UInt64
    private var cache: [Int: ([Float], [Float16], [Float])] = [:]

    init(tokens: Int, seed: UInt64) {
        self.tokens = tokens
        self.seed = seed
    }

    mutating func inputs(width: Int) -> ([Float], [Float16], [Float]) {
        if let hit = cache[width] { return hit }
        var rng = SeededGenerator(seed: seed &+ UInt64(width) &* 0x9E37_79B9_7F4A_7C15)
        let x = (0..<(tokens * width)).map { _ in rng.nextGaussian() }
        let half = x.map { Float16($0) }
        let entry = (x, half, half.map { Float($0) })
        cache[width] = entry
        return entry
    }
}
