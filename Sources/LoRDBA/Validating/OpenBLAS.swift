#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// OpenBLAS, loaded at run time with `dlopen` — the package never links it — for timing the
/// dense LoRA branch and the base layer's GEMM against the sign kernel.
public struct OpenBLAS: @unchecked Sendable {
    private typealias SGEMM = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
        UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    private typealias GetInt = @convention(c) () -> Int32
    private typealias SetInt = @convention(c) (Int32) -> Void
    private typealias GetString = @convention(c) () -> UnsafePointer<CChar>?

    /// The library name that loaded.
    public let library: String
    /// `openblas_get_config()`: version, build options and the kernel set in use.
    public let config: String
    /// `openblas_get_corename()`: the CPU kernel set chosen (or forced with `OPENBLAS_CORETYPE`).
    public let coreName: String
    private let sgemm: SGEMM
    private let getThreads: GetInt?
    private let setThreads: SetInt?

    /// Names tried in order by ``load(names:)``.
    public static let defaultNames = ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"]

    /// Why OpenBLAS could not be used.
    public struct Unavailable: Error, CustomStringConvertible {
        /// What `dlopen`/`dlsym` said.
        public var description: String
    }

    /// Loads the first of `names` that `dlopen` finds and resolves `cblas_sgemm`.
    ///
    /// Unless the environment already sets it, `OPENBLAS_THREAD_TIMEOUT` is set to its minimum
    /// (4) first. OpenBLAS's idle threads otherwise keep spinning for 2^28 cycles after each call,
    /// and in a process that times the sign kernel right after OpenBLAS they hold the cores the
    /// kernel's own threads need: on this project's 2-core machine the 2-thread sign path took
    /// 1700–1990 µs for a 4096 × 4096 module at T = 512 instead of 1130–1160 µs, while OpenBLAS's
    /// own times did not change beyond the noise (`lordba-validate --timing` and
    /// `lordba-bench gemm`, both settings, alternating).
    public static func load(names: [String] = defaultNames) throws(Unavailable) -> OpenBLAS {
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
        var problems: [String] = []
        for name in names {
            guard let handle = dlopen(name, RTLD_NOW | RTLD_LOCAL) else {
                problems.append(dlerror().map { String(cString: $0) } ?? "\(name): not found")
                continue
            }
            guard let symbol = dlsym(handle, "cblas_sgemm") else {
                problems.append("\(name): no cblas_sgemm")
                continue
            }
            func string(_ name: String) -> String {
                guard let f = dlsym(handle, name) else { return "unknown" }
                return unsafeBitCast(f, to: GetString.self)().map { String(cString: $0) } ?? "unknown"
            }
            return OpenBLAS(
                library: name, config: string("openblas_get_config"), coreName: string("openblas_get_corename"),
                sgemm: unsafeBitCast(symbol, to: SGEMM.self),
                getThreads: dlsym(handle, "openblas_get_num_threads").map { unsafeBitCast($0, to: GetInt.self) },
                setThreads: dlsym(handle, "openblas_set_num_threads").map { unsafeBitCast($0, to: SetInt.self) })
        }
        throw Unavailable(description: "OpenBLAS not found (" + problems.joined(separator: "; ")
                          + "); install it with `apt-get install libopenblas0` (or libopenblas-dev)")
    }

    /// OpenBLAS's thread count (`nil` when the library does not say).
    public var threads: Int? { getThreads.map { Int($0()) } }

    /// Sets OpenBLAS's thread count.
    public func setThreads(_ count: Int) { setThreads?(Int32(count)) }

    /// `C = alpha · A·Bᵀ + beta · C` for row-major `A` (`m × k`), `B` (`n × k`), `C` (`m × n`).
    public func multiplyTransposed(_ a: [Float], rows m: Int, inner k: Int, _ b: [Float], columns n: Int,
                                   into c: inout [Float], alpha: Float = 1, beta: Float = 0) {
        precondition(a.count == m * k && b.count == n * k && c.count == m * n, "matrix sizes do not match")
        guard m > 0, n > 0 else { return }
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    sgemm(Self.rowMajor, Self.noTrans, Self.trans, Int32(m), Int32(n), Int32(k), alpha,
                          pa.baseAddress, Int32(Swift.max(1, k)), pb.baseAddress, Int32(Swift.max(1, k)),
                          beta, pc.baseAddress, Int32(n))
                }
            }
        }
    }

    private static let rowMajor: Int32 = 101
    private static let noTrans: Int32 = 111
    private static let trans: Int32 = 112
}

/// The dense Float32 LoRA branch as a runtime without LoRDBA computes it, through OpenBLAS:
/// `H = X·Aᵀ`, then `Y += s·H·Bᵀ`, with `A` `[r, in]` and `B` `[out, r]` as PEFT stores them.
public struct OpenBLASBranch: Sendable {
    /// The library.
    public let blas: OpenBLAS
    /// `A`, `r × in`, row-major.
    public let a: [Float]
    /// `B`, `out × r`, row-major.
    public let b: [Float]
    /// The LoRA scale `s`.
    public let scale: Float
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int

    /// The branch of `lora`.
    public init(blas: OpenBLAS, lora: LoRAModule) {
        self.init(blas: blas, a: lora.a, b: lora.b, scale: Float(lora.scale))
    }

    /// A branch from factors `a` (`r × in`) and `b` (`out × r`).
    public init(blas: OpenBLAS, a: Matrix, b: Matrix, scale: Float) {
        precondition(a.rows == b.cols, "factors disagree on the rank")
        self.blas = blas
        self.a = a.values
        self.b = b.values
        self.scale = scale
        rank = a.rows
        inFeatures = a.cols
        outFeatures = b.rows
    }

    /// Adds the branch for `tokens` rows of `x` to `y`; `hidden` is scratch (resized to `tokens × r`).
    public func apply(_ x: [Float], tokens: Int, into y: inout [Float], hidden: inout [Float]) {
        if hidden.count != tokens * rank { hidden = [Float](repeating: 0, count: tokens * rank) }
        blas.multiplyTransposed(x, rows: tokens, inner: inFeatures, a, columns: rank, into: &hidden)
        blas.multiplyTransposed(hidden, rows: tokens, inner: rank, b, columns: outFeatures, into: &y, alpha: scale, beta: 1)
    }
}
