import Foundation
import Testing
@testable import LoRDBA

/// Malformed safetensors files are rejected with one-line errors naming the file and, where there is one, the tensor.
@Suite struct SafeTensorsRejectionTests {
    typealias F = ReadingFixtures

    /// Writes `bytes`, opens it and returns the error (which must happen).
    private func openError(_ bytes: [UInt8], _ dir: TempDir, name: String = "bad.safetensors") -> (SafeTensorsError?, String) {
        let path = dir.write(name, bytes)
        return (caught { () throws(SafeTensorsError) in try SafeTensorsFile(path: path) }, path)
    }

    // MARK: - Rejected files (each error names the file and, where there is one, the tensor)

    @Test func rejectsMissingFileAndDirectory() {
        let dir = TempDir()
        defer { dir.remove() }
        let missing = dir.path + "/missing.safetensors"
        let e1 = caught { () throws(SafeTensorsError) in try SafeTensorsFile(path: missing) }
        guard case .cannotOpen(missing, _)? = e1 else { Issue.record("\(String(describing: e1))"); return }
        expectOneLine(e1!.description, file: missing, subject: nil, mentions: "No such file")
        let e2 = caught { () throws(SafeTensorsError) in try SafeTensorsFile(path: dir.path) }
        guard case .cannotOpen? = e2 else { Issue.record("\(String(describing: e2))"); return }
    }

    @Test func rejectsFileShorterThanLengthPrefix() {
        let dir = TempDir()
        defer { dir.remove() }
        let (error, path) = openError([1, 0, 0, 0, 0], dir)
        #expect(error == .fileTooSmall(path: path, fileSize: 5))
        expectOneLine(error!.description, file: path, subject: nil, mentions: "5 bytes")
        let (empty, emptyPath) = openError([], dir, name: "empty.safetensors")
        #expect(empty == .fileTooSmall(path: emptyPath, fileSize: 0))
    }

    @Test func rejectsTruncatedData() {
        let dir = TempDir()
        defer { dir.remove() }
        let full = SafeTensorsWriter.serialize([F.tensor("a", [4], seed: 1), F.tensor("b", [4], seed: 2)], metadata: nil)
        let (error, path) = openError(Array(full.dropLast(3)), dir)
        guard case .truncated(path, "b", let end, let size)? = error else { Issue.record("\(String(describing: error))"); return }
        #expect(end == full.count && size == full.count - 3)
        expectOneLine(error!.description, file: path, subject: "b", mentions: "truncated")
    }

    @Test func rejectsHeaderLengthBeyondFile() {
        let dir = TempDir()
        defer { dir.remove() }
        let (error, path) = openError(F.raw(header: "{}", declaredLength: 100), dir)
        #expect(error == .invalidHeaderLength(path: path, headerLength: 100, fileSize: 10))
        expectOneLine(error!.description, file: path, subject: nil, mentions: "header length 100")
        let (huge, _) = openError(F.raw(header: "{}", declaredLength: UInt64.max), dir, name: "huge.safetensors")
        #expect(huge == .headerTooLarge(path: path.replacingOccurrences(of: "bad", with: "huge"), headerLength: UInt64.max))
    }

    @Test func rejectsHeaderTooLarge() {
        let dir = TempDir()
        defer { dir.remove() }
        let (error, path) = openError(F.raw(header: "{}", declaredLength: 100_000_001), dir)
        #expect(error == .headerTooLarge(path: path, headerLength: 100_000_001))
        expectOneLine(error!.description, file: path, subject: nil, mentions: "100000000")
    }

    @Test func rejectsBadJSON() {
        let dir = TempDir()
        defer { dir.remove() }
        for (i, header) in [#"{"a":"#, #"{"a":1,}"#, "{} x", #"{"x":{"dtype":"F32","shape":[NaN],"data_offsets":[0,0]}}"#,
                            String(repeating: "[", count: 100) + String(repeating: "]", count: 100)].enumerated() {
            let (error, path) = openError(F.raw(header: header), dir, name: "j\(i).safetensors")
            guard case .invalidHeaderJSON(path, _)? = error else { Issue.record("\(header): \(String(describing: error))"); continue }
            expectOneLine(error!.description, file: path, subject: nil, mentions: "not valid JSON")
        }
        let (error, path) = openError(F.raw(header: "{\"\u{FF}\":1}").enumerated().map { $0.offset == 10 ? 0xFF : $0.element }, dir)
        #expect(error == .headerNotUTF8(path: path))
        expectOneLine(error!.description, file: path, subject: nil, mentions: "UTF-8")
    }

    @Test func rejectsNonObjectHeader() {
        let dir = TempDir()
        defer { dir.remove() }
        for (i, (header, type)) in [("[1, 2]", "array"), ("\"x\"", "string"), ("  42 ", "number"), ("null", "null")].enumerated() {
            let (error, path) = openError(F.raw(header: header), dir, name: "n\(i).safetensors")
            #expect(error == .headerNotObject(path: path, found: type))
            expectOneLine(error?.description ?? "", file: path, subject: nil, mentions: "JSON object")
        }
    }

    @Test func rejectsBadMetadata() {
        let dir = TempDir()
        defer { dir.remove() }
        let cases = [#"{"__metadata__":{"k":1}}"#, #"{"__metadata__":["a"]}"#, #"{"__metadata__":"pt"}"#,
                     #"{"__metadata__":{"k":null}}"#, #"{"__metadata__":{"k":{"n":"v"}}}"#]
        for (i, header) in cases.enumerated() {
            let (error, path) = openError(F.raw(header: header), dir, name: "m\(i).safetensors")
            guard case .invalidMetadata(path, _)? = error else { Issue.record("\(header): \(String(describing: error))"); continue }
            expectOneLine(error!.description, file: path, subject: "__metadata__")
        }
    }

    @Test func rejectsDuplicateKeys() {
        let dir = TempDir()
        defer { dir.remove() }
        let entry = #"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#
        let (e1, p1) = openError(F.raw(header: "{\"w\":\(entry),\"w\":\(entry)}", data: [0, 0, 0, 0]), dir)
        #expect(e1 == .duplicateKey(path: p1, key: "w"))
        expectOneLine(e1!.description, file: p1, subject: "w", mentions: "more than once")
        let (e2, p2) = openError(F.raw(header: #"{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), dir, name: "d2.safetensors")
        #expect(e2 == .duplicateKey(path: p2, key: "dtype"))
        let (e3, p3) = openError(F.raw(header: #"{"__metadata__":{},"__metadata__":{}}"#), dir, name: "d3.safetensors")
        #expect(e3 == .duplicateKey(path: p3, key: "__metadata__"))
    }

    @Test func rejectsHoles() {
        let dir = TempDir()
        defer { dir.remove() }
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        let (error, path) = openError(F.raw(header: header, data: [UInt8](repeating: 0, count: 12)), dir)
        #expect(error == .hole(path: path, tensor: "b", gap: 4..<8))
        expectOneLine(error!.description, file: path, subject: "b", mentions: "belong to no tensor")
        // A buffer that does not start at offset 0 is a hole too.
        let (first, firstPath) = openError(F.raw(header: #"{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#, data: [0, 0]), dir, name: "h2.safetensors")
        #expect(first == .hole(path: firstPath, tensor: "a", gap: 0..<1))
    }

    @Test func rejectsOverlaps() {
        let dir = TempDir()
        defer { dir.remove() }
        let header = #"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        let (error, path) = openError(F.raw(header: header, data: [UInt8](repeating: 0, count: 12)), dir)
        #expect(error == .overlap(path: path, tensor: "b", other: "a"))
        expectOneLine(error!.description, file: path, subject: "b", mentions: "overlaps tensor \"a\"")
        // Two tensors sharing the same bytes.
        let same = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        let (e2, p2) = openError(F.raw(header: same, data: [0, 0, 0, 0]), dir, name: "o2.safetensors")
        #expect(e2 == .overlap(path: p2, tensor: "b", other: "a"))
    }

    @Test func rejectsTrailingBytes() {
        let dir = TempDir()
        defer { dir.remove() }
        let bytes = SafeTensorsWriter.serialize([F.tensor("only", [1], [1])], metadata: nil) + [0, 0]
        let (error, path) = openError(bytes, dir)
        #expect(error == .trailingBytes(path: path, after: "only", count: 2))
        expectOneLine(error!.description, file: path, subject: "only", mentions: "2 bytes")
        let (e2, p2) = openError(F.raw(header: "{}", data: [1]), dir, name: "t2.safetensors")
        #expect(e2 == .trailingBytes(path: p2, after: nil, count: 1))
        expectOneLine(e2!.description, file: p2, subject: nil, mentions: "1 bytes")
    }

    @Test func rejectsReversedOffsets() {
        let dir = TempDir()
        defer { dir.remove() }
        let header = #"{"r":{"dtype":"U8","shape":[4],"data_offsets":[4,0]}}"#
        let (error, path) = openError(F.raw(header: header, data: [0, 0, 0, 0]), dir)
        #expect(error == .reversedOffsets(path: path, tensor: "r", begin: 4, end: 0))
        expectOneLine(error!.description, file: path, subject: "r", mentions: "[4, 0]")
    }

    @Test func rejectsOverflowingShapes() {
        let dir = TempDir()
        defer { dir.remove() }
        let h1 = #"{"big":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}}"#
        let (e1, p1) = openError(F.raw(header: h1, data: [0, 0, 0, 0]), dir)
        #expect(e1 == .sizeOverflow(path: p1, tensor: "big", shape: [4_294_967_296, 4_294_967_296, 16], dtype: .f32))
        expectOneLine(e1!.description, file: p1, subject: "big", mentions: "overflows")
        // Elements fit, bits do not.
        let h2 = #"{"big":{"dtype":"F64","shape":[1152921504606846976],"data_offsets":[0,4]}}"#
        let (e2, p2) = openError(F.raw(header: h2, data: [0, 0, 0, 0]), dir, name: "o2.safetensors")
        #expect(e2 == .sizeOverflow(path: p2, tensor: "big", shape: [1_152_921_504_606_846_976], dtype: .f64))
        // Offsets beyond Int64 are not integers we accept: a literal of 2^64 - 1 or more is refused
        // by the JSON reader itself (json-c would saturate it), one below by the tensor entry check.
        let h3 = #"{"big":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551615]}}"#
        let (e3, p3) = openError(F.raw(header: h3, data: [0]), dir, name: "o3.safetensors")
        guard case .invalidHeaderJSON(p3, _)? = e3 else { Issue.record("\(String(describing: e3))"); return }
        let h4 = #"{"big":{"dtype":"U8","shape":[1],"data_offsets":[0,9223372036854775808]}}"#
        let (e4, p4) = openError(F.raw(header: h4, data: [0]), dir, name: "o4.safetensors")
        guard case .invalidTensorEntry(p4, "big", _)? = e4 else { Issue.record("\(String(describing: e4))"); return }
    }

    @Test func rejectsSizeMismatchAndMisalignedSubByteTensors() {
        let dir = TempDir()
        defer { dir.remove() }
        let (e1, p1) = openError(F.raw(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), dir)
        #expect(e1 == .sizeMismatch(path: p1, tensor: "w", expectedBytes: 8, actualBytes: 4))
        expectOneLine(e1!.description, file: p1, subject: "w", mentions: "need 8")
        let (e2, p2) = openError(F.raw(header: #"{"q":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, data: [0, 0]), dir, name: "m.safetensors")
        #expect(e2 == .misalignedSlice(path: p2, tensor: "q", bits: 12))
        let (e3, p3) = openError(F.raw(header: #"{"q":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]}}"#, data: [0, 0, 0]), dir, name: "m6.safetensors")
        #expect(e3 == nil, "\(p3): 4 × 6 bits = 3 bytes is valid")
    }

    @Test func rejectsUnknownDType() {
        let dir = TempDir()
        defer { dir.remove() }
        let (error, path) = openError(F.raw(header: #"{"w":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), dir)
        #expect(error == .unknownDType(path: path, tensor: "w", dtype: "F17"))
        expectOneLine(error!.description, file: path, subject: "w", mentions: "\"F17\"")
        let (lower, lowerPath) = openError(F.raw(header: #"{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), dir, name: "l.safetensors")
        #expect(lower == .unknownDType(path: lowerPath, tensor: "w", dtype: "f32"))
    }

    @Test func rejectsMalformedTensorEntries() {
        let dir = TempDir()
        defer { dir.remove() }
        let cases = [
            #"{"w":[1]}"#,
            #"{"w":{"shape":[1],"data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":8,"shape":[1],"data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}"#,
            #"{"w":{"dtype":"U8","shape":[1]}}"#,
            #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}}"#,
            #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}"#,
            #"{"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}"#,
            #"{"w":{"dtype":"U8","shape":[1],"data_offsets":{"b":0}}}"#,
        ]
        for (i, header) in cases.enumerated() {
            let (error, path) = openError(F.raw(header: header, data: [0]), dir, name: "e\(i).safetensors")
            guard case .invalidTensorEntry(path, "w", _)? = error else { Issue.record("\(header): \(String(describing: error))"); continue }
            expectOneLine(error!.description, file: path, subject: "w")
        }
    }

    @Test func hostileNamesStayOnOneLine() {
        let dir = TempDir()
        defer { dir.remove() }
        let (error, path) = openError(F.raw(header: #"{"a\nb\u0007":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), dir)
        #expect(error == .unknownDType(path: path, tensor: "a\nb\u{7}", dtype: "F17"))
        expectOneLine(error!.description, file: path, subject: "a\\nb\\u{7}")
        let long = String(repeating: "x", count: 5000)
        let message = SafeTensorsError.unknownDType(path: path, tensor: long, dtype: "F17").description
        #expect(message.count < 400)
    }
}
