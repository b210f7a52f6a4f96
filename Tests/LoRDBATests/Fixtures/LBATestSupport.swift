import Testing
@testable import LoRDBA

enum Fixtures {
    /// A sign matrix with random bits and zero padding.
    static func randomSigns(rows: Int, cols: Int, using rng: inout SeededGenerator) -> SignMatrix {
        var signs = SignMatrix(rows: rows, cols: cols)
        for row in 0..<rows {
            for col in 0..<cols { signs.setNegative(Bool.random(using: &rng), row: row, col: col) }
        }
        return signs
    }

    /// Positive scales with a largest magnitude of 1, like the binarizer produces.
    static func randomScales(_ count: Int, using rng: inout SeededGenerator) -> [Float] {
        var values = (0..<count).map { _ in Float.random(in: 0.001...1, using: &rng) }
        if let m = values.max(), m > 0 { values = values.map { $0 / m } }
        return values
    }

    static func module(name: String, kind: ModuleKind = .linear, inFeatures: Int, outFeatures: Int, k: Int,
                       inputScales: Bool, using rng: inout SeededGenerator) -> BinaryModule {
        BinaryModule(
            name: name, kind: kind, loraRank: max(k, 8), loraScale: Double.random(in: 0.1...4, using: &rng),
            signA: randomSigns(rows: k, cols: inFeatures, using: &rng),
            signB: randomSigns(rows: k, cols: outFeatures, using: &rng),
            scales: ChannelScales(
                input: inputScales ? randomScales(inFeatures, using: &rng) : nil,
                middle: (0..<k).map { _ in Float.random(in: 1e-4...0.5, using: &rng) },
                output: randomScales(outFeatures, using: &rng)),
            source: LoRAModule.Source(aTensor: name + ".lora_A.weight", bTensor: name + ".lora_B.weight",
                                      alphaTensor: kind == .linear ? nil : name + ".alpha", dtype: .bf16))
    }

    static func randomBytes(_ count: Int, using rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// An adapter with odd shapes, every kind, unicode names and carried tensors of several dtypes.
    static func adapter(seed: UInt64, scaleDType: ScaleDType = .f16, inputScales: Bool = true) -> BinaryAdapter {
        var rng = SeededGenerator(seed: seed)
        let modules = [
            module(name: "base_model.model.layers.0.self_attn.q_proj", inFeatures: 37, outFeatures: 65, k: 1,
                   inputScales: inputScales, using: &rng),
            module(name: "base_model.model.layers.0.mlp.down_proj", inFeatures: 130, outFeatures: 63, k: 3,
                   inputScales: inputScales, using: &rng),
            module(name: "层.注意力.投影 🚀", kind: .embedding, inFeatures: 64, outFeatures: 200, k: 16,
                   inputScales: inputScales, using: &rng),
            module(name: "unet.conv \"quoted\"\n\\slash", kind: .conv(kernel: [3, 3]), inFeatures: 9 * 7,
                   outFeatures: 129, k: 64, inputScales: inputScales, using: &rng),
        ]
        let carried = [
            CarriedTensor(name: "base_model.model.lm_head.weight", dtype: .f16, shape: [5, 7],
                          bytes: randomBytes(70, using: &rng)),
            CarriedTensor(name: "dora.magnitude_vector", dtype: .f32, shape: [33], bytes: randomBytes(132, using: &rng)),
            CarriedTensor(name: "zeros (compressible)", dtype: .bf16, shape: [64, 32],
                          bytes: [UInt8](repeating: 0, count: 64 * 32 * 2)),
            CarriedTensor(name: "step", dtype: .i64, shape: [], bytes: randomBytes(8, using: &rng)),
            CarriedTensor(name: "empty", dtype: .f64, shape: [0, 4], bytes: []),
            CarriedTensor(name: "mask ✓", dtype: .bool, shape: [3], bytes: [0, 1, 1]),
            CarriedTensor(name: "nibbles", dtype: .f4, shape: [2, 3], bytes: randomBytes(3, using: &rng)),
        ]
        return BinaryAdapter(
            layout: .peft, modules: modules, carried: carried,
            metadata: ["format": "pt", "lordba.binary_rank": "auto", "clé ünicode": "välue ✓", "empty": "",
                       "multi\nline": "tab\there"],
            scaleDType: scaleDType)
    }

    /// A tiny adapter for exhaustive corruption tests: one module with input scales, one
    /// compressible carried tensor (stored as zstd) and one small raw one.
    static func small() -> BinaryAdapter {
        var rng = SeededGenerator(seed: 7)
        return BinaryAdapter(
            layout: .kohya,
            modules: [module(name: "m", inFeatures: 5, outFeatures: 3, k: 2, inputScales: true, using: &rng)],
            carried: [
                CarriedTensor(name: "z", dtype: .f32, shape: [64], bytes: [UInt8](repeating: 0, count: 256)),
                CarriedTensor(name: "r", dtype: .u8, shape: [3], bytes: [1, 2, 3]),
            ],
            metadata: ["k": "v"], scaleDType: .f16)
    }

    /// The worked example of `formats/lba.md`: one linear module, in = 3, out = 2, k = 1.
    static func specExample() -> BinaryAdapter {
        var signA = SignMatrix(rows: 1, cols: 3)
        signA.setNegative(true, row: 0, col: 1)            // S_A = [[+1, −1, +1]]
        var signB = SignMatrix(rows: 1, cols: 2)
        signB.setNegative(true, row: 0, col: 0)            // S_B = [[−1, +1]] (k × out)
        return BinaryAdapter(
            layout: .peft,
            modules: [BinaryModule(
                name: "q", kind: .linear, loraRank: 4, loraScale: 2,
                signA: signA, signB: signB,
                scales: ChannelScales(input: nil, middle: [0.25], output: [1, 0.5]),
                source: LoRAModule.Source(aTensor: "q.lora_A.weight", bTensor: "q.lora_B.weight", dtype: .f16))],
            carried: [], metadata: [:], scaleDType: .f16)
    }
}

/// Checks that `decoded` is `original` after storage rounding.
func expectSameAdapter(_ decoded: BinaryAdapter, _ original: BinaryAdapter, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(decoded.layout == original.layout, sourceLocation: sourceLocation)
    #expect(decoded.scaleDType == original.scaleDType, sourceLocation: sourceLocation)
    #expect(decoded.metadata == original.metadata, sourceLocation: sourceLocation)
    #expect(decoded.modules.count == original.modules.count, sourceLocation: sourceLocation)
    let dtype = original.scaleDType
    for (d, o) in zip(decoded.modules, original.modules) {
        #expect(Array(d.name.utf8) == Array(o.name.utf8), sourceLocation: sourceLocation)
        #expect(d.kind == o.kind, sourceLocation: sourceLocation)
        #expect(d.loraRank == o.loraRank, sourceLocation: sourceLocation)
        #expect(d.loraScale == o.loraScale, sourceLocation: sourceLocation)
        #expect(d.source == o.source, sourceLocation: sourceLocation)
        #expect(d.signA == o.signA, sourceLocation: sourceLocation)
        #expect(d.signB == o.signB, sourceLocation: sourceLocation)
        #expect(d.scales.input == o.scales.input.map { $0.map(dtype.rounded) }, sourceLocation: sourceLocation)
        #expect(d.scales.output == o.scales.output.map(dtype.rounded), sourceLocation: sourceLocation)
        #expect(d.scales.middle == o.scales.middle, sourceLocation: sourceLocation)
    }
    #expect(decoded.carried == original.carried, sourceLocation: sourceLocation)
}

// MARK: - Editing files with valid checksums

/// A path into a JSON document: member names and array indices.
enum JSONKey: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case key(String)
    case index(Int)
    init(stringLiteral value: String) { self = .key(value) }
    init(integerLiteral value: Int) { self = .index(value) }
}

extension JSONValue {
    /// Applies `transform` to the value at `path` (created as `null` when a member is missing).
    mutating func update(_ path: [JSONKey], _ transform: (inout JSONValue) -> Void) {
        guard let first = path.first else { transform(&self); return }
        let rest = Array(path.dropFirst())
        switch (self, first) {
        case (.object(var members), .key(let key)):
            if let i = members.firstIndex(where: { $0.0 == key }) {
                members[i].1.update(rest, transform)
            } else {
                var value = JSONValue.null
                value.update(rest, transform)
                members.append((key, value))
            }
            self = .object(members)
        case (.array(var items), .index(let i)):
            items[i].update(rest, transform)
            self = .array(items)
        default:
            Issue.record("bad JSON path")
        }
    }

    mutating func set(_ path: [JSONKey], _ value: JSONValue) { update(path) { $0 = value } }

    /// Removes the member `key` of the object at `path`.
    mutating func remove(_ path: [JSONKey], _ key: String) {
        update(path) { value in
            if case .object(let members) = value { value = .object(members.filter { $0.0 != key }) }
        }
    }
}

/// A `.lba` file taken apart (without validation) so tests can change it and put it back
/// together with valid checksums and canonical placement.
struct LBAParts {
    var major: Int
    var minor: Int
    var flags: UInt32
    var table: JSONValue
    var sections: [[UInt8]]

    init(_ bytes: [UInt8]) throws {
        major = Int(bytes[8]) | Int(bytes[9]) << 8
        minor = Int(bytes[10]) | Int(bytes[11]) << 8
        flags = bytes.withUnsafeBytes { $0.loadLE(UInt32.self, at: 12) }
        let tableLength = bytes.withUnsafeBytes { Int($0.loadLE(UInt64.self, at: 24)) }
        var tableBytes = Array(bytes[64..<(64 + tableLength)])
        if flags & LBAFormat.Flags.compressedTable != 0 {
            // Taken apart raw: the reassembled file stores the table uncompressed.
            let decoded = bytes.withUnsafeBytes { Int($0.loadLE(UInt64.self, at: LBAFormat.Preamble.tableDecodedLength)) }
            tableBytes = try Zstd.decompress(tableBytes, expectedSize: decoded)
            flags &= ~LBAFormat.Flags.compressedTable
        }
        table = try JSONParser.parse(String(decoding: tableBytes, as: UTF8.self))
        sections = (table["sections"]?.arrayValue ?? []).map { entry in
            let offset = Int(entry["offset"]!.integerValue!)
            let length = Int(entry["length"]!.integerValue!)
            return Array(bytes[offset..<(offset + length)])
        }
    }

    /// Reassembles the file. Section offsets, lengths and (when `fixCRCs`) CRCs in the table
    /// are set to match the data, then `edit` may change the table further (its changes are not
    /// undone). The preamble gets correct CRCs and length.
    func assemble(fixCRCs: Bool = true, edit: (inout JSONValue) -> Void = { _ in }) -> [UInt8] {
        var region = LBAFormat.aligned(table.serialized().utf8.count)!
        while true {
            var json = table
            var offset = 64 + region
            for (i, data) in sections.enumerated() {
                json.set(["sections", .index(i), "offset"], .integer(Int64(offset)))
                json.set(["sections", .index(i), "length"], .integer(Int64(data.count)))
                if fixCRCs { json.set(["sections", .index(i), "crc32c"], .integer(Int64(CRC32C.checksum(data)))) }
                offset = LBAFormat.aligned(offset + data.count)!
            }
            edit(&json)
            var text = Array(json.serialized().utf8)
            let needed = LBAFormat.aligned(text.count)!
            if needed > region { region = needed; continue }
            // Trailing spaces keep the table filling its region (JSON allows them).
            if needed < region { text += [UInt8](repeating: 0x20, count: region - text.count) }
            var file = [UInt8](repeating: 0, count: 64)
            file += text
            for data in sections {
                file += [UInt8](repeating: 0, count: LBAFormat.aligned(file.count)! - file.count)
                file += data
            }
            file += [UInt8](repeating: 0, count: LBAFormat.aligned(file.count)! - file.count)
            let preamble = LBAFormat.preamble(major: major, minor: minor, flags: flags, tableLength: text.count,
                                              fileLength: file.count, tableCRC: CRC32C.checksum(text))
            file.replaceSubrange(0..<64, with: preamble)
            return file
        }
    }
}
