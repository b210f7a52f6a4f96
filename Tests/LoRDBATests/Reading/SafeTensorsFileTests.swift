import Foundation
import Testing
@testable import LoRDBA

/// SafeTensorsFile reads valid files and decodes every dtype exactly; SafeTensorsWriter's files read back identically.
@Suite struct SafeTensorsFileTests {
    typealias F = ReadingFixtures

    private func open(_ bytes: [UInt8], _ dir: TempDir) throws -> SafeTensorsFile {
        try SafeTensorsFile(path: dir.write("ok.safetensors", bytes))
    }

    // MARK: - Accepted files

    @Test func readsBothSamples() throws {
        let minilm = try SafeTensorsFile(path: F.sample("minilm-cls-r8/adapter_model.safetensors"))
        #expect(minilm.tensors.count == 26)
        #expect(minilm.metadata == ["format": "pt"])
        #expect(minilm.tensors.map(\.name) == minilm.tensors.map(\.name).sorted())
        let q = try #require(minilm.tensor(named: "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight"))
        #expect(q.dtype == .f32 && q.shape == [8, 384] && q.elementCount == 3072 && q.byteCount == 12288)
        #expect(q.dataRange.lowerBound == 8 + minilm.headerLength)
        let classifier = try #require(minilm.tensor(named: "base_model.model.classifier.weight"))
        #expect(classifier.shape == [2, 384])

        let llama = try SafeTensorsFile(path: F.sample("tiny-llama-lora-f16/adapter_model.safetensors"))
        #expect(llama.tensors.count == 56)
        #expect(llama.tensors.allSatisfy { $0.dtype == .f16 })
        #expect(llama.fileSize == 631_800)
        #expect(llama.tensor(named: "nope") == nil)
    }

    @Test func acceptsLeadingAndTrailingWhitespaceAroundHeader() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let header = "\t\n\r {\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}\r\n \t"
        let file = try open(F.raw(header: header, data: SafeTensorsWriter.encode([1.5] as [Float], as: .f32)), dir)
        #expect(file.tensors.map(\.name) == ["x"])
        #expect(try file.floats(file.tensors[0]) == [1.5])
    }

    @Test func acceptsUnpaddedHeaderNullMetadataScalarsEmptyTensorsAndExtraFields() throws {
        let dir = TempDir()
        defer { dir.remove() }
        // 8 + N is deliberately not a multiple of 8, as MLX writes it.
        let header = #"{"__metadata__":null,"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F16","shape":[3,0],"data_offsets":[8,8]},"q":{"dtype":"F4","shape":[2,3],"data_offsets":[8,11],"extra":{"ignored":[1]}}}"#
        #expect(header.utf8.count % 8 != 0)
        let data = SafeTensorsWriter.encode([2.25] as [Double], as: .f64) + [0x12, 0x34, 0x56]
        let file = try open(F.raw(header: header, data: data), dir)
        #expect(file.metadata.isEmpty)
        let s = try #require(file.tensor(named: "s"))
        #expect(s.shape == [] && s.elementCount == 1)
        #expect(try file.floats(s) == [2.25])
        let e = try #require(file.tensor(named: "e"))
        #expect(e.elementCount == 0 && e.dataRange.isEmpty)
        #expect(try file.floats(e) == [])
        let q = try #require(file.tensor(named: "q"))
        #expect(q.elementCount == 6 && file.rawBytes(q) == [0x12, 0x34, 0x56])
    }

    @Test func acceptsEmptyFileOfTensors() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let file = try open(F.raw(header: "{}"), dir)
        #expect(file.tensors.isEmpty && file.metadata.isEmpty)
    }

    // MARK: - Decoding

    @Test func decodesFloatDTypesExactlyFromKnownBitPatterns() throws {
        let dir = TempDir()
        defer { dir.remove() }
        func le16(_ v: [UInt16]) -> [UInt8] { v.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }
        func le32(_ v: [UInt32]) -> [UInt8] { v.flatMap { x in (0..<4).map { UInt8((x >> (8 * $0)) & 0xFF) } } }
        func le64(_ v: [UInt64]) -> [UInt8] { v.flatMap { x in (0..<8).map { UInt8((x >> (8 * $0)) & 0xFF) } } }
        let f16Bits: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555, 0x7C00, 0x0400]
        let f16Want: [Float] = [1, -2, 65504, 0x1p-24, -0.0, 0.333251953125, .infinity, 0x1p-14]
        let bf16Bits: [UInt16] = [0x3F80, 0x4049, 0xC2F7, 0x0001, 0x7F7F, 0xFF80]
        let bf16Want: [Float] = [1, 3.140625, -123.5, 0x1p-133, 0x1.FEp127, -.infinity]
        let f32Bits: [UInt32] = [0x3F80_0000, 0x3DCC_CCCD, 0x0000_0001, 0xC049_0FDB]
        let f32Want: [Float] = [1, 0.1, 0x1p-149, -3.14159274]
        let f64Bits: [UInt64] = [0x3FF0_0000_0000_0000, 0x3FD5_5555_5555_5555, 0xC000_0000_0000_0000, 0x3FB9_9999_9999_999A]
        let f64Want: [Float] = [1, Float(1.0 / 3.0), -2, Float(0.1)]
        let file = try open(SafeTensorsWriter.serialize([
            ("h", .f16, [8], le16(f16Bits)), ("b", .bf16, [2, 3], le16(bf16Bits)),
            ("f", .f32, [4], le32(f32Bits)), ("d", .f64, [4], le64(f64Bits)),
        ], metadata: nil), dir)
        func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }
        #expect(bits(try file.floats(file.tensor(named: "h")!)) == bits(f16Want))
        #expect(bits(try file.floats(file.tensor(named: "b")!)) == bits(bf16Want))
        #expect(bits(try file.floats(file.tensor(named: "f")!)) == bits(f32Want))
        #expect(bits(try file.floats(file.tensor(named: "d")!)) == bits(f64Want))
    }

    @Test func encodersRoundToNearestEvenAndRoundTrip() {
        #expect(SafeTensorsWriter.encode([1, -2, 65504] as [Float], as: .f16) == [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B])
        #expect(SafeTensorsWriter.encode([1, 3.140625] as [Float], as: .bf16) == [0x80, 0x3F, 0x49, 0x40])
        // 1 + 2^-8 is halfway between two bfloat16 values: ties go to the even one (1.0).
        #expect(SafeTensorsWriter.encode([1 + 0x1p-8] as [Float], as: .bf16) == [0x80, 0x3F])
        #expect(SafeTensorsWriter.encode([1] as [Float], as: .f32) == [0, 0, 0x80, 0x3F])
        #expect(SafeTensorsWriter.encode([1.0 / 3.0] as [Double], as: .f64) == [0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xD5, 0x3F])
        #expect(SafeTensorsWriter.encode([-2] as [Double], as: .f16) == [0x00, 0xC0])
    }

    @Test func notFloatDTypeCannotBeDecoded() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let file = try open(SafeTensorsWriter.serialize([("i", .i32, [2], [1, 0, 0, 0, 2, 0, 0, 0])], metadata: nil), dir)
        let info = try #require(file.tensor(named: "i"))
        let error = caught { () throws(SafeTensorsError) in try file.floats(info) }
        #expect(error == .notFloat(path: file.path, tensor: "i", dtype: .i32))
        expectOneLine(error!.description, file: file.path, subject: "i", mentions: "I32")
        #expect(file.rawBytes(info) == [1, 0, 0, 0, 2, 0, 0, 0])
    }

    @Test func releasedTensorsReadBackUnchanged() throws {
        let file = try SafeTensorsFile(path: F.sample("tiny-llama-lora-f16/adapter_model.safetensors"))
        for info in file.tensors {
            let before = try file.floats(info)
            file.release(info)
            #expect(try file.floats(info) == before)
        }
    }

    // MARK: - Writer

    @Test func writerOutputReReadsIdentically() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let tensors: [F.Tensor] = [
            F.tensor("b.f16", [3, 5], seed: 1, .f16),
            F.tensor("a.f16", [2], seed: 2, .f16),
            F.tensor("z.f32", [4, 1], seed: 3),
            F.tensor("m.f64", [], seed: 4, .f64),
            F.tensor("c.bf16", [2, 7], seed: 5, .bf16),
            F.tensor("e.f32", [0], []),
            ("u8", .u8, [3], [7, 8, 9]),
            ("i64", .i64, [1], [1, 2, 3, 4, 5, 6, 7, 8]),
        ]
        let bytes = SafeTensorsWriter.serialize(tensors, metadata: ["format": "pt", "a": "b\"c"])
        let n = Int(UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
        #expect(n % 8 == 0)
        #expect(bytes[8] == UInt8(ascii: "{"))
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        #expect(header.hasPrefix(#"{"__metadata__":{"a":"b\"c","format":"pt"},"#))
        #expect(header.trimmingCharacters(in: .init(charactersIn: " ")).hasSuffix("}"))

        let file = try SafeTensorsFile(path: dir.write("w.safetensors", bytes))
        #expect(file.metadata == ["format": "pt", "a": "b\"c"])
        #expect(file.tensors.map(\.name) == tensors.map(\.name).sorted())
        for t in tensors {
            let info = try #require(file.tensor(named: t.name))
            #expect(info.dtype == t.dtype && info.shape == t.shape)
            #expect(file.rawBytes(info) == t.bytes)
        }
        // Layout order: dtype alignment descending (64-bit, then 32, 16, 8 bits), then name.
        // (TensorDType declares dtypes in the reference's alignment order, so I64 sorts after F64.)
        let byOffset = file.tensors.filter { $0.elementCount > 0 }.sorted { $0.dataRange.lowerBound < $1.dataRange.lowerBound }.map(\.name)
        #expect(byOffset == ["i64", "m.f64", "z.f32", "c.bf16", "a.f16", "b.f16", "u8"])
        // Re-serialising what was read gives the same bytes.
        let again = SafeTensorsWriter.serialize(file.tensors.map { ($0.name, $0.dtype, $0.shape, file.rawBytes($0)) },
                                                metadata: file.metadata)
        #expect(again == bytes)
        #expect(SafeTensorsWriter.serialize([], metadata: nil) == F.raw(header: "{}      "))
    }

    @Test func writerWritesFiles() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let bytes = SafeTensorsWriter.serialize([F.tensor("x", [2], [1, 2])], metadata: nil)
        let path = dir.path + "/written.safetensors"
        try SafeTensorsWriter.write(bytes, to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
        let error = caught { () throws(FileError) in try SafeTensorsWriter.write(bytes, to: dir.path + "/no/such/dir/x") }
        #expect(error?.operation == .create)
    }
}
