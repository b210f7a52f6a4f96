import Testing
@testable import LoRDBA

@Suite struct LBARoundTripTests {
    @Test(arguments: ScaleDType.allCases, [true, false])
    func roundTripsEveryField(scaleDType: ScaleDType, inputScales: Bool) throws {
        let adapter = Fixtures.adapter(seed: 1, scaleDType: scaleDType, inputScales: inputScales)
        let encoded = try LBAWriter().encode(adapter)
        let file = try LBAFile(bytes: encoded.bytes)
        expectSameAdapter(file.adapter, adapter)
        // 1.1 when the compressed table made the file shorter, else 1.0.
        let tableCompressed = encoded.bytes.withUnsafeBytes { $0.loadLE(UInt32.self, at: LBAFormat.Preamble.flags) } != 0
        #expect(file.version == LBAVersion(major: 1, minor: tableCompressed ? 1 : 0))
        #expect(file.fileSize == encoded.bytes.count)
        // The scale sections exist exactly when expected, in the adapter's dtype.
        let scaleA = file.sections.filter { $0.content == .scaleA }
        #expect(scaleA.count == (inputScales ? adapter.modules.count : 0))
        for (section, module) in zip(file.sections.filter { $0.content == .scaleB }, adapter.modules) {
            #expect(section.decodedLength == module.outFeatures * scaleDType.byteWidth)
        }
    }

    /// Random shapes, binary ranks and input-scale presence, for every scale dtype (e4m3
    /// included, with scales at its normalised peak of 256) and every layout.
    @Test func roundTripsManyRandomShapes() throws {
        var rng = SeededGenerator(seed: 99)
        let dtypes = ScaleDType.allCases, layouts = AdapterLayout.allCases
        var covered: Set<String> = []
        for trial in 0..<(3 * dtypes.count) {
            let dtype = dtypes[trial % dtypes.count]
            let layout = layouts[(trial / dtypes.count + trial) % layouts.count]
            var modules: [BinaryModule] = []
            for index in 0..<3 {
                let k = [1, 3, 16, 64][Int.random(in: 0..<4, using: &rng)]
                var module = Fixtures.module(
                    name: "layer.\(trial).\(index)", inFeatures: Int.random(in: 1...300, using: &rng),
                    outFeatures: Int.random(in: 1...300, using: &rng), k: k,
                    inputScales: Bool.random(using: &rng), using: &rng)
                module.scales.input = module.scales.input?.map { $0 * dtype.normalisedPeak }
                module.scales.output = module.scales.output.map { $0 * dtype.normalisedPeak }
                modules.append(module)
            }
            let adapter = BinaryAdapter(layout: layout, modules: modules, carried: [],
                                        metadata: ["trial": "\(trial)"], scaleDType: dtype)
            let file = try LBAFile(bytes: try LBAWriter().encode(adapter).bytes)
            #expect(file.adapter.scaleDType == dtype)
            expectSameAdapter(file.adapter, adapter)
            covered.insert(dtype.rawValue)
            covered.insert(layout.rawValue)
        }
        #expect(covered == Set(dtypes.map(\.rawValue) + layouts.map(\.rawValue)))
    }

    @Test func anEmptyAdapterIsNeitherWrittenNorRead() throws {
        let adapter = BinaryAdapter(layout: .mlx, modules: [], carried: [], metadata: [:], scaleDType: .bf16)
        #expect(throws: LBAError.self) { try LBAWriter().encode(adapter) }
    }

    @Test func scaleValuesAreStoredWithTheDtypeRounding() throws {
        // Values that each dtype must round: 1/3, a value halfway between f16 neighbours, subnormals.
        let values: [Float] = [1.0 / 3.0, 1 + 1.0 / 2048, 1e-6, 6e-8, 0.999_99, 1]
        for dtype in ScaleDType.allCases {
            let module = BinaryModule(
                name: "x", kind: .linear, loraRank: 1, loraScale: 1.5,
                signA: SignMatrix(rows: 1, cols: values.count), signB: SignMatrix(rows: 1, cols: values.count),
                scales: ChannelScales(input: values, middle: [0.123_456_789], output: values.reversed()),
                source: LoRAModule.Source(aTensor: "a", bTensor: "b", dtype: .f32))
            let adapter = BinaryAdapter(layout: .peft, modules: [module], carried: [], metadata: [:], scaleDType: dtype)
            let decoded = try LBAFile(bytes: try LBAWriter().encode(adapter).bytes).adapter.modules[0]
            #expect(decoded.scales.input == values.map(dtype.rounded))
            #expect(decoded.scales.output == values.reversed().map(dtype.rounded))
            #expect(decoded.scales.middle == [0.123_456_789])   // m is always f32
            if dtype != .f32 { #expect(decoded.scales.input != values) }
        }
    }

    @Test func encodingIsDeterministic() throws {
        let adapter = Fixtures.adapter(seed: 5)
        let first = try LBAWriter().encode(adapter)
        let second = try LBAWriter().encode(adapter)
        #expect(first.bytes == second.bytes)
        // Re-encoding what was read gives the same file.
        let decoded = try LBAFile(bytes: first.bytes).adapter
        #expect(try LBAWriter().encode(decoded).bytes == first.bytes)
        // Metadata order does not depend on the dictionary's insertion order or hashing.
        var shuffled = adapter
        shuffled.metadata = [:]
        for key in adapter.metadata.keys.sorted().reversed() { shuffled.metadata[key] = adapter.metadata[key] }
        #expect(try LBAWriter().encode(shuffled).bytes == first.bytes)
    }

    @Test func layoutIsAlignedAndAccounted() throws {
        let adapter = Fixtures.adapter(seed: 2)
        let encoded = try LBAWriter().encode(adapter)
        let file = try LBAFile(bytes: encoded.bytes)
        #expect(encoded.bytes.count % 64 == 0)
        #expect(file.sections.allSatisfy { $0.offset % 64 == 0 })
        #expect(file.sections.first?.offset == LBAFormat.aligned(64 + file.tableLength))
        #expect(encoded.moduleBytes.count == adapter.modules.count)
        for (index, module) in adapter.modules.enumerated() {
            let stored = file.sections.filter { $0.module == module.name }.map(\.storedLength).reduce(0, +)
            #expect(encoded.moduleBytes[index] == stored)
            #expect(file.sections.filter { $0.module == module.name }.count == (module.scales.input == nil ? 4 : 5))
        }
        #expect(encoded.carriedBytes == file.sections.filter { $0.content == .carried }.map(\.storedLength).reduce(0, +))
        // Every byte is preamble, table, a section or padding.
        let padding = encoded.bytes.count - 64 - file.tableLength - file.sections.map(\.storedLength).reduce(0, +)
        #expect(padding >= 0 && padding < 64 * (file.sections.count + 1))
    }

    @Test func zstdIsUsedForCompressibleDataOnly() throws {
        let adapter = Fixtures.adapter(seed: 3)
        let file = try LBAFile(bytes: try LBAWriter().encode(adapter).bytes)
        let zeros = try #require(file.sections.first { $0.tensor == "zeros (compressible)" })
        #expect(zeros.encoding == .zstd)
        #expect(zeros.storedLength < zeros.decodedLength / 20)
        // Random sign rows without padding are incompressible and stay raw.
        var rng = SeededGenerator(seed: 12)
        var dense = adapter
        dense.modules = [Fixtures.module(name: "dense", inFeatures: 256, outFeatures: 512, k: 64, inputScales: true, using: &rng)]
        let denseFile = try LBAFile(bytes: try LBAWriter().encode(dense).bytes)
        let signs = denseFile.sections.filter { $0.content == .signA || $0.content == .signB }
        #expect(signs.map(\.decodedLength) == [2048, 4096])
        #expect(signs.allSatisfy { $0.encoding == .raw })
        // Rows padded with many zero bits (out = 129: 63 of every 192 bits) do compress, and decode exactly.
        let padded = try #require(file.sections.first { $0.content == .signB && $0.decodedLength == 64 * 3 * 8 })
        #expect(padded.encoding == .zstd)
        // Without compression, everything is raw and still round-trips.
        let plain = try LBAFile(bytes: try LBAWriter(compression: false).encode(adapter).bytes)
        #expect(plain.sections.allSatisfy { $0.encoding == .raw })
        expectSameAdapter(plain.adapter, adapter)
    }

    @Test func largeCompressibleTensorSpansManyZstdBlocks() throws {
        // 3 MiB of a repeating pattern: many 128 KiB zstd blocks, decoded exactly.
        let count = 3 << 20
        let pattern: [UInt8] = (0..<251).map { UInt8($0) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        while bytes.count < count { bytes += pattern.prefix(count - bytes.count) }
        var adapter = Fixtures.small()
        adapter.carried = [CarriedTensor(name: "big", dtype: .u8, shape: [count], bytes: bytes)]
        let encoded = try LBAWriter().encode(adapter)
        #expect(encoded.carriedBytes < count / 100)
        let file = try LBAFile(bytes: encoded.bytes)
        #expect(file.sections.last?.encoding == .zstd)
        #expect(file.adapter.carried[0].bytes == bytes)
    }

    @Test func signBitConventionOnDisk() throws {
        // S_A row 0 = [+1, −1, +1]: bit 1 set in the first little-endian word.
        let encoded = try LBAWriter().encode(Fixtures.specExample())
        let file = try LBAFile(bytes: encoded.bytes)
        let signA = try #require(file.sections.first { $0.content == .signA })
        #expect(Array(encoded.bytes[signA.offset..<(signA.offset + 8)]) == [0x02, 0, 0, 0, 0, 0, 0, 0])
        let signB = try #require(file.sections.first { $0.content == .signB })
        #expect(Array(encoded.bytes[signB.offset..<(signB.offset + 8)]) == [0x01, 0, 0, 0, 0, 0, 0, 0])
        let scaleB = try #require(file.sections.first { $0.content == .scaleB })
        #expect(Array(encoded.bytes[scaleB.offset..<(scaleB.offset + 4)]) == [0x00, 0x3C, 0x00, 0x38])  // f16 1.0, 0.5
        let scaleM = try #require(file.sections.first { $0.content == .scaleM })
        #expect(Array(encoded.bytes[scaleM.offset..<(scaleM.offset + 4)]) == [0x00, 0x00, 0x80, 0x3E])  // f32 0.25
    }

    /// The worked example in `formats/lba.md` (its table raw, as a 1.0 file); if this changes,
    /// the spec must change with it.
    @Test func specExampleBytes() throws {
        let bytes = try LBAWriter(compression: true, tableCompression: false).encode(Fixtures.specExample()).bytes
        #expect(bytes.count == 1152)
        #expect(Array(bytes[0..<64]) == [
            0x89, 0x4C, 0x42, 0x41, 0x0D, 0x0A, 0x1A, 0x0A, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0E, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x80, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xA9, 0xDA, 0x0B, 0x0B, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x80, 0x61, 0x39,
        ])
        let table = String(decoding: bytes[64..<(64 + 782)], as: UTF8.self)
        #expect(table.hasPrefix(#"{"format":"lba","version":[1,0],"layout":"peft","scale_dtype":"f16","metadata":{},"modules":[{"name":"q","kind":"linear","in":3,"out":2,"rank":4,"binary_rank":1,"lora_scale":2,"#))
        #expect(table.hasSuffix(#"{"content":"scale_m","module":0,"offset":1088,"length":4,"decoded_length":4,"encoding":"raw","crc32c":792676264}]}"#))
        #expect(CRC32C.checksum(bytes) == 0xBCA1_99EB)
    }

    @Test func readsAndWritesFiles() throws {
        let temp = TempDir()
        defer { temp.remove() }
        let directory = temp.path
        let path = directory + "/adapter.lba"
        let adapter = Fixtures.adapter(seed: 4, scaleDType: .bf16)
        let encoded = try LBAWriter().write(adapter, to: path, overwrite: false)
        #expect(readFile(path) == encoded.bytes)
        let file = try LBAFile(path: path)
        expectSameAdapter(file.adapter, adapter)
        #expect(file.fileSize == encoded.bytes.count)
        #expect(directoryEntries(directory) == ["adapter.lba"])
    }

    @Test func metadataAndNamesWithUnusualCharacters() throws {
        var adapter = Fixtures.small()
        adapter.metadata = ["nul\u{0}value": "x"]
        #expect(throws: LBAError.self) { try LBAWriter().encode(adapter) }   // NUL in a key cannot be stored
        adapter.metadata = ["key": "value with \u{0} NUL", "\u{1F600}": "\u{7F}\u{80}\u{FFFF}"]
        adapter.modules[0].name = "name with \u{0} NUL and \u{2028}"
        let file = try LBAFile(bytes: try LBAWriter().encode(adapter).bytes)
        expectSameAdapter(file.adapter, adapter)
    }
}
