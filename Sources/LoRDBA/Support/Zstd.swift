import CZstd

/// Why a zstd operation failed.
public enum ZstdError: Error, Equatable, Sendable, CustomStringConvertible {
    /// libzstd could not allocate a context.
    case outOfMemory
    /// Compression failed (libzstd's reason).
    case compressionFailed(String)
    /// The input is not exactly one zstd frame (libzstd's reason, or trailing bytes).
    case malformedFrame(String)
    /// The frame does not declare its decoded size in its header.
    case unknownContentSize
    /// The frame decodes (or declares it decodes) to a different size than expected.
    case sizeMismatch(expected: Int, actual: Int)
    /// Decompression failed (libzstd's reason: corrupt data, checksum, …).
    case decompressionFailed(String)

    public var description: String {
        switch self {
        case .outOfMemory: "zstd: out of memory"
        case .compressionFailed(let reason): "zstd compression failed: \(reason)"
        case .malformedFrame(let reason): "not a single zstd frame: \(reason)"
        case .unknownContentSize: "zstd frame does not declare its decoded size"
        case .sizeMismatch(let expected, let actual): "zstd frame decodes to \(actual) bytes, expected \(expected)"
        case .decompressionFailed(let reason): "zstd decompression failed: \(reason)"
        }
    }
}

/// A thin, safe wrapper over libzstd's one-shot API.
///
/// Compression uses explicit, fixed parameters (level, content size in the frame header,
/// no checksum, no dictionary ID, single-threaded), so the output depends only on the input,
/// the level and the libzstd version. Decompression demands exactly one frame that declares
/// and decodes to exactly the expected size.
public enum Zstd {
    /// The version of the linked libzstd, e.g. `"1.5.4"`.
    public static var libraryVersion: String { String(cString: ZSTD_versionString()) }

    /// The largest output a valid zstd frame can have per input byte (one 128 KiB RLE block per
    /// 4 stored bytes); anything claiming more is refused without being decoded.
    public static let maximumRatio = 32_768

    /// The largest window (log2 bytes) a frame may ask for: 2^27 = 128 MiB, the limit
    /// `formats/lba.md` states and libzstd's default (the one-shot decoder does not enforce it,
    /// so the header is checked here).
    public static let maximumWindowLog: Int32 = 27

    /// Compresses `input` at `level` into one frame that records its content size.
    public static func compress(_ input: UnsafeRawBufferPointer, level: Int32) throws(ZstdError) -> [UInt8] {
        let context = try CompressionContext()
        return try context.compress(input, level: level)
    }

    /// Compresses a byte array at `level`.
    public static func compress(_ input: [UInt8], level: Int32) throws(ZstdError) -> [UInt8] {
        let context = try CompressionContext()
        return try input.withUnsafeBytes { buffer in
            Result { () throws(ZstdError) -> [UInt8] in try context.compress(buffer, level: level) }
        }.get()
    }

    /// Decodes `input`, which must be exactly one zstd frame whose header declares
    /// `expectedSize` bytes and which decodes to exactly that many.
    public static func decompress(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws(ZstdError) -> [UInt8] {
        guard let base = input.baseAddress, input.count > 0 else { throw .malformedFrame("empty input") }
        // A skippable frame (RFC 8878 3.1.2) holds no content and declares no content size:
        // libzstd would "decode" it to nothing, but it is not the Zstandard frame a section needs.
        if input.count >= 4, input.loadLE(UInt32.self, at: 0) & 0xFFFF_FFF0 == 0x184D_2A50 {
            throw .malformedFrame("a skippable frame, which holds no content")
        }
        let frameSize = ZSTD_findFrameCompressedSize(base, input.count)
        if ZSTD_isError(frameSize) != 0 { throw .malformedFrame(errorName(frameSize)) }
        guard frameSize == input.count else {
            throw .malformedFrame("\(input.count - frameSize) bytes after the frame")
        }
        let declared = ZSTD_getFrameContentSize(base, input.count)
        if declared == UInt64.max { throw .unknownContentSize }            // ZSTD_CONTENTSIZE_UNKNOWN
        if declared == UInt64.max - 1 { throw .malformedFrame("bad frame header") }  // ZSTD_CONTENTSIZE_ERROR
        guard expectedSize >= 0, declared == UInt64(expectedSize) else {
            throw .sizeMismatch(expected: expectedSize, actual: declared > UInt64(Int.max) ? Int.max : Int(declared))
        }
        if let window = windowSize(input), window > UInt64(1) << UInt64(maximumWindowLog) {
            throw .malformedFrame("window of \(window) bytes is above the limit of \(1 << maximumWindowLog)")
        }
        var failure: ZstdError? = nil
        // One spare byte so a frame that would decode to more than declared fails here, not silently.
        let output = [UInt8](unsafeUninitializedCapacity: expectedSize + 1) { buffer, initialized in
            let result = ZSTD_decompress(buffer.baseAddress, buffer.count, base, input.count)
            if ZSTD_isError(result) != 0 {
                failure = .decompressionFailed(errorName(result))
                initialized = 0
            } else if result != expectedSize {
                failure = .sizeMismatch(expected: expectedSize, actual: result)
                initialized = 0
            } else {
                initialized = result
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Decodes a byte array; see ``decompress(_:expectedSize:)-(UnsafeRawBufferPointer,_)``.
    public static func decompress(_ input: [UInt8], expectedSize: Int) throws(ZstdError) -> [UInt8] {
        try input.withUnsafeBytes { buffer in
            Result { () throws(ZstdError) -> [UInt8] in try decompress(buffer, expectedSize: expectedSize) }
        }.get()
    }

    /// The window size a frame's header asks for (RFC 8878 §3.1.1.1.2), or `nil` for a
    /// single-segment frame, whose window is its content size (checked separately).
    static func windowSize(_ frame: UnsafeRawBufferPointer) -> UInt64? {
        guard frame.count >= 6 else { return nil }
        let descriptor = frame[4]
        guard descriptor & 0x20 == 0 else { return nil }   // Single_Segment_flag
        let windowDescriptor = frame[5]
        let exponent = UInt64(windowDescriptor >> 3), mantissa = UInt64(windowDescriptor & 7)
        let base = UInt64(1) << (10 + exponent)
        return base + base / 8 * mantissa
    }

    static func errorName(_ code: Int) -> String {
        String(cString: ZSTD_getErrorName(code))
    }

    /// A reusable compression context (not thread-safe; use one per task).
    final class CompressionContext {
        private let context: OpaquePointer

        init() throws(ZstdError) {
            guard let context = ZSTD_createCCtx() else { throw .outOfMemory }
            self.context = context
        }

        deinit { ZSTD_freeCCtx(context) }

        func compress(_ input: UnsafeRawBufferPointer, level: Int32) throws(ZstdError) -> [UInt8] {
            ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters)
            for (parameter, value) in [
                (ZSTD_c_compressionLevel, level),
                (ZSTD_c_contentSizeFlag, 1),
                (ZSTD_c_checksumFlag, 0),
                (ZSTD_c_dictIDFlag, 0),
            ] {
                let result = ZSTD_CCtx_setParameter(context, parameter, value)
                if ZSTD_isError(result) != 0 { throw .compressionFailed(Zstd.errorName(result)) }
            }
            let bound = ZSTD_compressBound(input.count)
            if ZSTD_isError(bound) != 0 { throw .compressionFailed(Zstd.errorName(bound)) }
            var failure: ZstdError? = nil
            // libzstd accepts a null source only when its size is zero.
            var empty: UInt8 = 0
            let output = withUnsafePointer(to: &empty) { emptyPointer in
                [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
                    let source = input.baseAddress ?? UnsafeRawPointer(emptyPointer)
                    let result = ZSTD_compress2(context, buffer.baseAddress, buffer.count, source, input.count)
                    if ZSTD_isError(result) != 0 {
                        failure = .compressionFailed(Zstd.errorName(result))
                        initialized = 0
                    } else {
                        initialized = result
                    }
                }
            }
            if let failure { throw failure }
            return output
        }
    }
}
