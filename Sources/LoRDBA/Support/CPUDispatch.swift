import CLoRDBAKernels

/// The instruction-set path of the C kernels (`Sources/CLoRDBAKernels`): each is compiled for
/// baseline x86-64 (SSE2) and for AVX2 + FMA + F16C, and one is chosen at start-up — the best
/// the CPU supports, or the one `LORDBA_CPU=sse2|avx2` names. Both paths do the same
/// operations in the same order, so every result is bit-identical; only the speed differs.
public enum CPUPath: String, CaseIterable, Sendable {
    case sse2
    case avx2

    var cValue: lordba_path { self == .avx2 ? LORDBA_PATH_AVX2 : LORDBA_PATH_SSE2 }
}

/// Which kernel path runs, and switching it (tests and benchmarks compare the paths).
public enum CPUDispatch {
    /// The path in use.
    public static var current: CPUPath { lordba_cpu_path() == LORDBA_PATH_AVX2 ? .avx2 : .sse2 }

    /// Whether this CPU can run `path`.
    public static func isSupported(_ path: CPUPath) -> Bool { lordba_cpu_supports(path.cValue) != 0 }

    /// Switches to `path` for the whole process; false (and no change) when the CPU cannot run it.
    @discardableResult
    public static func use(_ path: CPUPath) -> Bool { lordba_set_cpu_path(path.cValue) != 0 }
}
