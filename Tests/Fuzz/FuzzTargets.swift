// libFuzzer harnesses for the readers. Not part of the SwiftPM package: run.sh
// compiles this file together with the library sources in one `swiftc -sanitize=fuzzer,address`
// invocation, as module `LoRDBA`, so the harness reaches internal API. One binary serves every
// target; LORDBA_FUZZ_TARGET picks it:
//   adapter         safetensors weights + adapter_config.json + layout pairing, then every module loaded
//   lba             a .lba file, raw bytes, then inspect's rendering
//   lba-structured  a .lba table and its section payloads; the harness lays them out with correct
//                   offsets, lengths and CRCs so mutations reach the semantic checks
#if canImport(Glibc)
import Glibc
#endif

private enum FuzzTarget: String {
    case adapter, lba, lbaStructured = "lba-structured"
}

private nonisolated(unsafe) var target: FuzzTarget = .lba
private nonisolated(unsafe) var scratch = ""

/// Sets the target, a scratch folder, and writes seeds into an empty corpus folder.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = getenv("LORDBA_FUZZ_TARGET").map { String(cString: $0) } ?? "lba"
    guard let chosen = FuzzTarget(rawValue: name) else {
        fputs("unknown LORDBA_FUZZ_TARGET \(name): adapter, lba or lba-structured\n", stderr)
        exit(2)
    }
    target = chosen
    // Scratch files in memory when /dev/shm exists (the adapter target writes two per input).
    var template = Array((access("/dev/shm", W_OK) == 0 ? "/dev/shm/lordba-fuzz-XXXXXX" : "/tmp/lordba-fuzz-XXXXXX").utf8CString)
    _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    scratch = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    atexit {
        for name in ["adapter_config.json", "adapter_model.safetensors"] { _ = unlink(scratch + "/" + name) }
        _ = rmdir(scratch)
    }
    if let seeds = getenv("LORDBA_FUZZ_SEEDS").map({ String(cString: $0) }) {
        writeSeeds(to: seeds, samples: getenv("LORDBA_FUZZ_SAMPLES").map { String(cString: $0) } ?? "samples")
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    switch target {
    case .adapter: fuzzAdapter(bytes)
    case .lba: fuzzLBA(bytes)
    case .lbaStructured: fuzzLBA(structured(bytes))
    }
    return 0
}

// MARK: - Targets

/// Input: a 2-byte little-endian config length, the config text, then the safetensors bytes.
private func fuzzAdapter(_ bytes: [UInt8]) {
    guard bytes.count >= 2 else { return }
    let configLength = min(Int(bytes[0]) | Int(bytes[1]) << 8, bytes.count - 2)
    let config = Array(bytes[2..<(2 + configLength)])
    let weights = Array(bytes[(2 + configLength)...])
    guard write(config, to: scratch + "/adapter_config.json"), write(weights, to: scratch + "/adapter_model.safetensors") else { return }
    guard let source = try? AdapterSource.open(scratch) else { return }
    for spec in source.modules.prefix(64) {
        if let module = try? source.load(spec) { _ = NumericLimits.inputProblem(module) }
    }
    _ = Inspector.describe(adapter: source)
}

private func fuzzLBA(_ bytes: [UInt8]) {
    guard let file = try? LBAFile(bytes: bytes, path: "fuzz.lba") else { return }
    _ = Inspector.describe(lba: file, path: "fuzz.lba")
}

/// Input: a 4-byte table length, the table text, then the section payloads one after another
/// in table order (each as long as its `length` member says, truncated at the end).
private func structured(_ bytes: [UInt8]) -> [UInt8] {
    guard bytes.count >= 4 else { return bytes }
    let declared = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
    let tableLength = min(declared, bytes.count - 4)
    guard let json = try? JSONParser.parse(String(decoding: bytes[4..<(4 + tableLength)], as: UTF8.self)),
          case .object(var members) = json,
          let sectionIndex = members.firstIndex(where: { $0.0 == "sections" }),
          case .array(var sections) = members[sectionIndex].1, sections.count <= 4096 else { return bytes }
    var cursor = 4 + tableLength
    var payloads: [[UInt8]] = []
    for i in sections.indices {
        guard case .object(var fields) = sections[i] else { continue }
        let wanted = fields.first { $0.0 == "length" }?.1.integerValue.map { Int(clamping: $0) } ?? 0
        let take = max(0, min(wanted, bytes.count - cursor))
        let payload = Array(bytes[cursor..<(cursor + take)])
        cursor += take
        payloads.append(payload)
        fields.removeAll { $0.0 == "length" || $0.0 == "crc32c" }
        fields.append(("length", .integer(Int64(payload.count))))
        fields.append(("crc32c", .integer(Int64(CRC32C.checksum(payload)))))
        sections[i] = .object(fields)
    }
    // Lay the sections out canonically; the offsets' digits change the table length, so iterate.
    var region = LBAFormat.aligned(json.serialized().utf8.count + 64) ?? 0
    for _ in 0..<8 {
        var offset = 64 + region
        var placed = sections
        var p = 0
        for i in placed.indices {
            guard case .object(var fields) = placed[i] else { continue }
            fields.removeAll { $0.0 == "offset" }
            fields.append(("offset", .integer(Int64(offset))))
            placed[i] = .object(fields)
            offset = LBAFormat.aligned(offset + payloads[p].count) ?? offset
            p += 1
        }
        members[sectionIndex].1 = .array(placed)
        var text = Array(JSONValue.object(members).serialized().utf8)
        guard let needed = LBAFormat.aligned(text.count), needed <= region else { region = LBAFormat.aligned(text.count) ?? region; continue }
        text += [UInt8](repeating: 0x20, count: region - text.count)
        var file = [UInt8](repeating: 0, count: 64) + text
        for payload in payloads {
            file += [UInt8](repeating: 0, count: (LBAFormat.aligned(file.count) ?? file.count) - file.count)
            file += payload
        }
        file += [UInt8](repeating: 0, count: (LBAFormat.aligned(file.count) ?? file.count) - file.count)
        file.replaceSubrange(0..<64, with: LBAFormat.preamble(tableLength: text.count, fileLength: file.count,
                                                                tableCRC: CRC32C.checksum(text)))
        return file
    }
    return bytes
}

// MARK: - Seeds

private func writeSeeds(to folder: String, samples: String) {
    var rng = SeededGenerator(seed: 1)
    func module(_ name: String, _ inF: Int, _ outF: Int, _ k: Int, input: Bool) -> BinaryModule {
        func signs(_ rows: Int, _ cols: Int) -> SignMatrix {
            var m = SignMatrix(rows: rows, cols: cols)
            for r in 0..<rows { for c in 0..<cols where rng.next() & 1 == 1 { m.setNegative(true, row: r, col: c) } }
            return m
        }
        return BinaryModule(name: name, kind: .linear, loraRank: k, loraScale: 2, signA: signs(k, inF), signB: signs(k, outF),
                            scales: ChannelScales(input: input ? [Float](repeating: 0.5, count: inF) : nil,
                                                  middle: [Float](repeating: 0.25, count: k), output: [Float](repeating: 1, count: outF)),
                            source: LoRAModule.Source(aTensor: name + ".lora_A.weight", bTensor: name + ".lora_B.weight", dtype: .f16))
    }
    let adapters = [
        BinaryAdapter(layout: .peft, modules: [module("q", 70, 3, 2, input: true)],
                      carried: [CarriedTensor(name: "z", dtype: .f32, shape: [64], bytes: [UInt8](repeating: 0, count: 256))],
                      metadata: ["k": "v"], scaleDType: .f16),
        BinaryAdapter(layout: .mlx, modules: [module("a", 5, 9, 1, input: false), module("b", 9, 5, 3, input: true)],
                      carried: [], metadata: [:], scaleDType: .e4m3),
    ]
    for (n, adapter) in adapters.enumerated() {
        // The structured form holds the table as text: its seeds keep the table raw (format 1.0).
        let writer = LBAWriter(compression: true, tableCompression: target != .lbaStructured)
        guard let bytes = try? writer.encode(adapter).bytes else { continue }
        switch target {
        case .lba: _ = write(bytes, to: "\(folder)/seed-\(n).lba")
        case .lbaStructured: _ = write(unstructured(bytes), to: "\(folder)/seed-\(n).bin")
        case .adapter: break
        }
    }
    if target == .adapter {
        // Small weights (whole samples make every execution slow) with the samples' real configs,
        // in each layout's naming; a PEFT config with patterns; a kohya alpha.
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in rng.nextGaussian() * 0.05 } }
        func pair(_ a: String, _ b: String, dtype: TensorDType, transposed: Bool = false)
            -> [(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])] {
            [(a, dtype, transposed ? [16, 4] : [4, 16], SafeTensorsWriter.encode(values(64), as: dtype)),
             (b, dtype, transposed ? [4, 8] : [8, 4], SafeTensorsWriter.encode(values(32), as: dtype))]
        }
        let patterns = Array(#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "rank_pattern": {"q_proj": 4}, "alpha_pattern": {"layers\\.0\\..*": 16}}"#.utf8)
        var configs: [[UInt8]] = [patterns, Array(#"{"lora_parameters": {"rank": 4, "scale": 20.0}}"#.utf8)]
        for sample in ["minilm-cls-r8", "tiny-llama-lora-f16"] {
            if let config = read(samples + "/" + sample + "/adapter_config.json") { configs.append(Array(config.prefix(65_535))) }
        }
        let weights: [[(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])]] = [
            pair("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                 "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", dtype: .f16),
            pair("model.layers.0.self_attn.q_proj.lora_a", "model.layers.0.self_attn.q_proj.lora_b", dtype: .f32, transposed: true),
            pair("lora_unet_down_blocks_0.lora_down.weight", "lora_unet_down_blocks_0.lora_up.weight", dtype: .bf16)
                + [("lora_unet_down_blocks_0.alpha", .f32, [], SafeTensorsWriter.encode([Float(2)], as: .f32))],
        ]
        for (n, tensors) in weights.enumerated() {
            let file = SafeTensorsWriter.serialize(tensors, metadata: ["format": "pt"])
            for (m, config) in configs.enumerated() {
                _ = write([UInt8(config.count & 0xFF), UInt8(config.count >> 8)] + config + file, to: "\(folder)/seed-\(n)-\(m).bin")
            }
        }
    }
}

/// A `.lba` file in the structured target's input form.
private func unstructured(_ file: [UInt8]) -> [UInt8] {
    let tableLength = file.withUnsafeBytes { Int($0.loadLE(UInt64.self, at: 24)) }
    var out: [UInt8] = [UInt8(tableLength & 0xFF), UInt8((tableLength >> 8) & 0xFF), UInt8((tableLength >> 16) & 0xFF), UInt8(tableLength >> 24)]
    out += file[64..<(64 + tableLength)]
    if let json = try? JSONParser.parse(String(decoding: file[64..<(64 + tableLength)], as: UTF8.self)) {
        for section in json["sections"]?.arrayValue ?? [] {
            let offset = Int(section["offset"]?.integerValue ?? 0), length = Int(section["length"]?.integerValue ?? 0)
            out += file[offset..<(offset + length)]
        }
    }
    return out
}

// MARK: - Files

private func write(_ bytes: [UInt8], to path: String) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
}

private func read(_ path: String) -> [UInt8]? {
    guard let file = try? MappedFile(path: path) else { return nil }
    return file.withBytes { Array($0) }
}
