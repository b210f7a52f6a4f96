/// Overflow-checked size arithmetic shared by the writer and the reader.
enum LBALayoutMath {
    /// `rows * ceil(cols / 64)`, or `nil` on overflow or a negative dimension.
    static func signWords(rows: Int, cols: Int) -> Int? {
        guard rows >= 0, cols >= 0 else { return nil }
        let wordsPerRow = cols / 64 + (cols % 64 == 0 ? 0 : 1)
        let (words, overflow) = rows.multipliedReportingOverflow(by: wordsPerRow)
        return overflow ? nil : words
    }

    /// Decoded bytes of a module's `content` section (`formats/lba.md` §6: sign rows padded to
    /// 64-bit words, `a` and `b` one value per channel in the scale dtype, `m` one f32 per sign
    /// channel), or `nil` on overflow or for a content that is not a module's. The one size rule
    /// of the writer's estimates, the reader's checks and the reports.
    static func sectionBytes(_ content: LBASectionContent, inFeatures: Int, outFeatures: Int, binaryRank k: Int,
                             scaleDType: ScaleDType) -> Int? {
        switch content {
        case .signA: signBytes(rows: k, cols: inFeatures)
        case .signB: signBytes(rows: k, cols: outFeatures)
        case .scaleA: product(inFeatures, scaleDType.byteWidth)
        case .scaleB: product(outFeatures, scaleDType.byteWidth)
        case .scaleM: product(k, ScaleDType.f32.byteWidth)
        case .carried, .unknown: nil
        }
    }

    /// The contents a module stores: both sign matrices, `a` when `inputScales`, `b` and `m`.
    static func moduleContents(inputScales: Bool) -> [LBASectionContent] {
        LBASectionContent.moduleContents.filter { inputScales || $0 != .scaleA }
    }

    /// Bytes a module takes in a file with its sections stored raw and aligned (an upper bound
    /// when zstd shrinks a section): both sign matrices, `a` (when stored), `b` and `m`.
    static func storedModuleBytes(inFeatures: Int, outFeatures: Int, binaryRank k: Int, scaleDType: ScaleDType,
                                  inputScales: Bool) -> Int {
        moduleContents(inputScales: inputScales).reduce(0) { total, content in
            total + LBAFormat.aligned(sectionBytes(content, inFeatures: inFeatures, outFeatures: outFeatures,
                                                   binaryRank: k, scaleDType: scaleDType)!)!
        }
    }

    /// Decoded bytes of a module's scale sections: `a` (when stored), `b` and `m`.
    static func scaleBytes(inFeatures: Int, outFeatures: Int, binaryRank k: Int, scaleDType: ScaleDType,
                           inputScales: Bool) -> Int {
        moduleContents(inputScales: inputScales).filter { $0 != .signA && $0 != .signB }.reduce(0) { total, content in
            total + sectionBytes(content, inFeatures: inFeatures, outFeatures: outFeatures,
                                 binaryRank: k, scaleDType: scaleDType)!
        }
    }

    /// Bytes of a packed sign matrix, or `nil` on overflow.
    static func signBytes(rows: Int, cols: Int) -> Int? {
        guard let words = signWords(rows: rows, cols: cols) else { return nil }
        let (bytes, overflow) = words.multipliedReportingOverflow(by: 8)
        return overflow ? nil : bytes
    }

    /// `count * width`, or `nil` on overflow or a negative count.
    static func product(_ count: Int, _ width: Int) -> Int? {
        guard count >= 0, width >= 0 else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: width)
        return overflow ? nil : bytes
    }

    /// Number of elements of a tensor of `shape`, or `nil` on overflow.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard let next = product(count, dimension) else { return nil }
            count = next
        }
        return count
    }

    /// Bytes of a tensor: the element count times the bit width, which must be whole bytes.
    static func tensorBytes(dtype: TensorDType, shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard let next = product(count, dimension) else { return nil }
            count = next
        }
        guard let bits = product(count, dtype.bitWidth), bits % 8 == 0 else { return nil }
        return bits / 8
    }

    /// Why a conv kernel shape does not fit `inFeatures`, or `nil` when it does.
    static func kernelProblem(_ kernel: [Int], inFeatures: Int) -> String? {
        var size = 1
        for k in kernel {
            guard k >= 1 else { return "kernel \(kernel) has a dimension below 1" }
            guard let next = product(size, k) else { return "kernel \(kernel) is too large" }
            size = next
        }
        guard inFeatures % size == 0 else {
            return "in = \(inFeatures) is not a multiple of the kernel size \(size) (kernel \(kernel))"
        }
        return nil
    }

    /// The first row with a set bit past column `cols`, or `nil`.
    static func firstRowWithPaddingBits(_ words: [UInt64], rows: Int, cols: Int) -> Int? {
        let used = cols % 64
        guard used != 0, rows > 0 else { return nil }
        let wordsPerRow = cols / 64 + 1
        let mask = ~UInt64(0) << UInt64(used)
        for row in 0..<rows where words[row * wordsPerRow + wordsPerRow - 1] & mask != 0 { return row }
        return nil
    }
}
