import CLoRDBAKernels

/// A dense row-major matrix of `Float`, the in-memory form of every LoRA factor.
///
/// Factors are small (`r × in` or `out × r`), so a plain array is the right
/// container; the code never builds an `out × in` product of two factors.
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let cols: Int
    /// `rows * cols` values, row after row.
    public var values: [Float]

    /// A matrix of the given shape filled with `value`.
    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && cols >= 0, "negative matrix shape")
        self.rows = rows
        self.cols = cols
        self.values = [Float](repeating: value, count: rows * cols)
    }

    /// A matrix over existing row-major values; `values.count` must be `rows * cols`.
    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "matrix values do not match its shape")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// A matrix from nested rows (handy in tests); all rows must have one length.
    public init(_ rowsOfValues: [[Float]]) {
        let cols = rowsOfValues.first?.count ?? 0
        precondition(rowsOfValues.allSatisfy { $0.count == cols }, "ragged matrix literal")
        self.init(rows: rowsOfValues.count, cols: cols, values: rowsOfValues.flatMap { $0 })
    }

    @inlinable
    public subscript(row: Int, col: Int) -> Float {
        get { values[row * cols + col] }
        set { values[row * cols + col] = newValue }
    }

    /// The transpose, `cols × rows`.
    public func transposed() -> Matrix {
        guard rows > 0, cols > 0 else { return Matrix(rows: cols, cols: rows) }
        let values = [Float](unsafeUninitializedCapacity: rows * cols) { dst, count in
            self.values.withUnsafeBufferPointer { src in
                lordba_transpose(src.baseAddress, rows, cols, dst.baseAddress)   // 8 × 8 blocks, in C
            }
            count = rows * cols
        }
        return Matrix(rows: cols, cols: rows, values: values)
    }

    /// Squared Frobenius norm, accumulated in `Double`.
    public var frobeniusNormSquared: Double {
        var sum = 0.0
        for v in values { sum += Double(v) * Double(v) }
        return sum
    }

    /// Whether every entry is finite (no NaN, no infinity).
    public var isFinite: Bool { values.allSatisfy { $0.isFinite } }
}

extension SeededGenerator {
    /// A matrix of independent normal samples times `scale`.
    public mutating func gaussianMatrix(rows: Int, cols: Int, scale: Float = 1) -> Matrix {
        var m = Matrix(rows: rows, cols: cols)
        for i in 0..<m.values.count { m.values[i] = nextGaussian() * scale }
        return m
    }
}
