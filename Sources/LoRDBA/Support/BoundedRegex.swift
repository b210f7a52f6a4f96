import CPCRE2

/// A regular expression whose matching work is bounded, for patterns from untrusted files
/// (PEFT's `rank_pattern` / `alpha_pattern` keys).
///
/// Backed by PCRE2 (interpreted, no JIT) with a match limit, a backtracking depth limit and a
/// heap limit, so a catastrophic pattern such as `(a+)+$` or `(.*)*x` fails in milliseconds
/// with ``Failure/limitExceeded`` instead of running for minutes.
public final class BoundedRegex: @unchecked Sendable {
    /// Most calls to PCRE2's internal `match()` per match attempt.
    public static let matchLimit: UInt32 = 1_000_000
    /// Deepest backtracking nesting per match attempt.
    public static let depthLimit: UInt32 = 10_000
    /// Most heap PCRE2 may use for backtracking, in KiB.
    public static let heapLimitKiB: UInt32 = 16 * 1024

    /// Why compiling or matching failed.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        /// The pattern does not compile (PCRE2's message and offset).
        case invalid(String)
        /// Matching needed more work than the limits allow.
        case limitExceeded
        /// PCRE2 failed otherwise (its message).
        case failed(String)

        public var description: String {
            switch self {
            case .invalid(let m): "not a valid regular expression: \(m)"
            case .limitExceeded: "the pattern needs more matching work than the limit allows (catastrophic backtracking)"
            case .failed(let m): "matching failed: \(m)"
            }
        }
    }

    private let code: OpaquePointer
    private let context: OpaquePointer

    /// Compiles `pattern` (Unicode: `.` and classes work on code points).
    public init(_ pattern: String) throws(Failure) {
        var errorCode: Int32 = 0
        var errorOffset = 0
        let bytes = Array(pattern.utf8)
        let compiled = bytes.withUnsafeBufferPointer { buffer in
            pcre2_compile_8(buffer.baseAddress, buffer.count, PCRE2_UTF | PCRE2_UCP, &errorCode, &errorOffset, nil)
        }
        guard let compiled else {
            throw .invalid("\(Self.message(errorCode)) at offset \(errorOffset)")
        }
        guard let context = pcre2_match_context_create_8(nil) else {
            pcre2_code_free_8(compiled)
            throw .failed("out of memory")
        }
        pcre2_set_match_limit_8(context, Self.matchLimit)
        pcre2_set_depth_limit_8(context, Self.depthLimit)
        pcre2_set_heap_limit_8(context, Self.heapLimitKiB)
        self.code = compiled
        self.context = context
    }

    deinit {
        pcre2_match_context_free_8(context)
        pcre2_code_free_8(code)
    }

    /// Whether the pattern matches the whole of `subject`.
    public func wholeMatch(_ subject: String) throws(Failure) -> Bool {
        guard let data = pcre2_match_data_create_from_pattern_8(code, nil) else { throw .failed("out of memory") }
        defer { pcre2_match_data_free_8(data) }
        let bytes = Array(subject.utf8)
        let result = bytes.withUnsafeBufferPointer { buffer in
            // A non-null pointer even for the empty subject.
            withUnsafePointer(to: UInt8(0)) { empty in
                pcre2_match_8(code, buffer.baseAddress ?? empty, buffer.count, 0,
                              PCRE2_ANCHORED | PCRE2_ENDANCHORED, data, context)
            }
        }
        if result >= 0 { return true }
        switch result {
        case PCRE2_ERROR_NOMATCH: return false
        case PCRE2_ERROR_MATCHLIMIT, PCRE2_ERROR_DEPTHLIMIT, PCRE2_ERROR_HEAPLIMIT: throw .limitExceeded
        default: throw .failed(Self.message(result))
        }
    }

    private static func message(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pcre2_get_error_message_8(code, &buffer, buffer.count)
        return n > 0 ? String(decoding: buffer[0..<Int(n)], as: UTF8.self) : "PCRE2 error \(code)"
    }
}
