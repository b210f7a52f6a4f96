/// `lordba-convert inspect --json`: what ``Inspector`` shows, as one JSON document for scripts
/// (`kind` is `lba`, `adapter` or `safetensors`; metadata values that are JSON, like the source
/// config, are embedded as JSON).
extension Inspector {
    /// The JSON description of `path`.
    public static func json(_ path: String) throws(Failure) -> JSONValue {
        try inspect(path, lba: { json(lba: $0, path: path) }, adapter: json(adapter:)) { file, error in
            .object([
                ("kind", .string("safetensors")), ("file", .string(file.path)), ("bytes", int(file.fileSize)),
                ("tensors", .array(file.tensors.map { .object([("name", .string($0.name)), ("dtype", .string($0.dtype.rawValue)),
                                                              ("shape", shape($0.shape))]) })),
                ("not_convertible", .string(error.description)),
            ])
        }
    }

    static func json(lba: LBAFile, path: String) -> JSONValue {
        let adapter = lba.adapter
        var bytesByModule: [String: Int] = [:]
        for s in lba.sections { if let m = s.module { bytesByModule[m, default: 0] += s.storedLength } }
        let modules: [JSONValue] = adapter.modules.map { m in
            .object([
                ("name", .string(m.name)), ("kind", .string(m.kind.name)), ("in", int(m.inFeatures)), ("out", int(m.outFeatures)),
                ("r", int(m.loraRank)), ("k", int(m.binaryRank)), ("scale", .double(m.loraScale)),
                ("input_scales", .bool(m.scales.input != nil)), ("bytes", int(bytesByModule[m.name] ?? 0)),
            ])
        }
        return .object([
            ("kind", .string("lba")), ("file", .string(path)), ("bytes", int(lba.fileSize)),
            ("format_version", .string("\(lba.version.major).\(lba.version.minor)")), ("integrity", .string("ok")),
            ("layout", .string(adapter.layout.rawValue)), ("scale_dtype", .string(adapter.scaleDType.rawValue)),
            ("sections", int(lba.sections.count)), ("table_bytes", int(lba.tableLength)),
            ("metadata", metadata(adapter.metadata)), ("modules", .array(modules)),
            ("carried", .array(adapter.carried.map { t in
                .object([("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)), ("shape", shape(t.shape)),
                         ("bytes", int(t.bytes.count)), ("role", t.role.map { .string($0.rawValue) } ?? .null)])
            })),
            ("dora_modules", int(lba.doraMagnitudes.count)),
        ])
    }

    static func json(adapter source: AdapterSource) -> JSONValue {
        .object([
            ("kind", .string("adapter")), ("file", .string(source.weightsPath)), ("bytes", int(source.inputBytes)),
            ("config", source.configPath.map { .string($0) } ?? .null), ("layout", .string(source.layout.rawValue)),
            ("metadata", metadata(source.metadata)),
            ("modules", .array(source.modules.map { m in
                .object([("name", .string(m.name)), ("kind", .string(m.kind.name)), ("in", int(m.inFeatures)),
                         ("out", int(m.outFeatures)), ("r", int(m.rank)), ("scale", .double(m.scale)), ("dtype", .string(m.dtype.rawValue))])
            })),
            ("carried", .array(source.carried.map { .object([("name", .string($0.name)), ("dtype", .string($0.dtype.rawValue)), ("shape", shape($0.shape))]) })),
            ("notes", .array(source.notes.map { .string($0) })),
        ])
    }

    /// Metadata by key; values that are JSON objects or arrays (the source config) embedded as such.
    static func metadata(_ values: [String: String]) -> JSONValue {
        .object(values.sorted { $0.key < $1.key }.map { key, value in (key, embeddedJSON(value) ?? .string(value)) })
    }

    /// `text` parsed, when it is a JSON object or array.
    static func embeddedJSON(_ text: String) -> JSONValue? {
        guard text.first == "{" || text.first == "[", let value = try? JSONParser.parse(text) else { return nil }
        return value
    }

    /// The metadata lines of the text description: one key a line, JSON values indented below their key.
    static func metadataLines(_ values: [String: String]) -> [String] {
        guard !values.isEmpty else { return [] }
        var lines = ["metadata"]
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            if let json = embeddedJSON(value) {
                lines.append("  \(key):")
                lines += json.serialized(indent: 2).split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
            } else {
                lines.append("  \(key) = \(value)")
            }
        }
        return lines
    }

    private static func int(_ n: Int) -> JSONValue { .integer(Int64(n)) }
    private static func shape(_ dims: [Int]) -> JSONValue { .array(dims.map { .integer(Int64($0)) }) }
}
