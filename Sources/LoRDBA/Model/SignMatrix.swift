import CLoRDBAKernels

/// A matrix of ±1 entries packed one bit per entry: bit 1 means −1, bit 0 means +1.
///
/// Each row is packed least-significant-bit first into little-endian 64-bit words and
/// padded with zero bits (+1) to a whole word, so rows start on 8-byte boundaries. This is
/// the exact layout of a sign section in a `.lba` file and what the sign-GEMM kernel reads:
/// a set bit XORed into a float's sign bit negates it.
public struct SignMatrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns (entries per row, before padding).
    public let cols: Int
    /// Packed rows, `rows * wordsPerRow` words.
    public var words: [UInt64]

    /// Words per packed row: `ceil(cols / 64)`.
    public var wordsPerRow: Int { (cols + 63) / 64 }

    /// An all-(+1) matrix of the given shape.
    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        self.words = [UInt64](repeating: 0, count: rows * ((cols + 63) / 64))
    }

    /// A matrix over packed words; padding bits must be zero.
    public init(rows: Int, cols: Int, words: [UInt64]) {
        precondition(words.count == rows * ((cols + 63) / 64), "packed sign words do not match the shape")
        self.rows = rows
        self.cols = cols
        self.words = words
    }

    /// The signs of `matrix`, with `sign(0) = +1` (and `-0.0` also +1).
    public init(signsOf matrix: Matrix) {
        self.init(rows: matrix.rows, cols: matrix.cols)
        guard rows > 0, cols > 0 else { return }
        let wpr = wordsPerRow
        matrix.values.withUnsafeBufferPointer { src in
            words.withUnsafeMutableBufferPointer { dst in
                // The bit is set exactly when the value is below zero (compare and move-mask, in C).
                lordba_pack_signs(src.baseAddress, matrix.rows, matrix.cols, dst.baseAddress, wpr)
            }
        }
    }

    /// Whether entry (`row`, `col`) is −1.
    @inlinable
    public func isNegative(row: Int, col: Int) -> Bool {
        let word = words[row * ((cols + 63) / 64) + col / 64]
        return (word >> UInt64(col % 64)) & 1 == 1
    }

    /// Entry (`row`, `col`) as `+1` or `-1`.
    @inlinable
    public subscript(row: Int, col: Int) -> Float {
        isNegative(row: row, col: col) ? -1 : 1
    }

    /// Sets entry (`row`, `col`) to −1 when `negative`, else +1.
    public mutating func setNegative(_ negative: Bool, row: Int, col: Int) {
        let index = row * wordsPerRow + col / 64
        let bit: UInt64 = 1 << UInt64(col % 64)
        if negative { words[index] |= bit } else { words[index] &= ~bit }
    }

    /// The ±1 entries expanded to a dense matrix (tests and the dense reference only).
    public func dense() -> Matrix {
        var out = Matrix(rows: rows, cols: cols)
        let wpr = wordsPerRow
        let cols = self.cols
        words.withUnsafeBufferPointer { src in
            out.values.withUnsafeMutableBufferPointer { dst in
                for r in 0..<rows {
                    for c in 0..<cols {
                        let bit = (src[r * wpr + c >> 6] >> UInt64(c & 63)) & 1
                        dst[r * cols + c] = bit == 0 ? 1 : -1
                    }
                }
            }
        }
        return out
    }

    /// Bytes the packed form occupies, padding included.
    public var byteCount: Int { words.count * 8 }
}
