/// Reading a LoRA config file (`adapter_config.json`) into JSON; the layouts' scale rules
/// (`Layouts/PEFT.swift`, `Layouts/MLX.swift`) interpret it.
enum AdapterConfigFile {
    /// The members of the JSON object in the config file at `path`.
    static func read(_ path: String) throws(AdapterError) -> JSONValue {
        let file: MappedFile
        do {
            file = try MappedFile(path: path)
        } catch {
            let text = error.description
            let prefix = path + ": "
            throw .unreadableConfig(path: path, reason: text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text)
        }
        let parsed = file.withBytes { bytes in
            Result { () throws(JSONError) -> JSONValue in try JSONParser.parse(bytes) }
        }
        switch parsed {
        case .success(let root):
            guard root.objectValue != nil else {
                throw .unreadableConfig(path: path, reason: "config must be a JSON object, found \(root.typeName)")
            }
            return root
        case .failure(.duplicateKey(let key)):
            throw .invalidConfig(path: path, field: key, problem: "key appears more than once in one object")
        case .failure(let error):
            throw .unreadableConfig(path: path, reason: error.description)
        }
    }

    /// A reader of the config object `config` at `path`: `null` members count as absent (Python
    /// writes unset fields as `null`), unknown members are ignored (configs carry many), and a
    /// member of the wrong type is an `invalidConfig` naming `fieldPrefix` + the member.
    static func reader(_ config: JSONValue, path: String, fieldPrefix: String = "") throws(AdapterError)
        -> JSONObjectReader<AdapterError>
    {
        try JSONObjectReader(config, context: fieldPrefix, nullMeansAbsent: true, refusesUnknownMembers: false) { prefix, problem in
            switch problem {
            case .notAnObject(let found):
                .unreadableConfig(path: path, reason: "config must be a JSON object, found \(found.typeName)")
            case .wrongType(let key, let found, let expected):
                .invalidConfig(path: path, field: prefix + key, problem: "must be \(expected), found \(found.typeName)")
            case .missing(let key), .negative(let key, _), .unknownMember(let key):
                .invalidConfig(path: path, field: prefix + key, problem: problem.description)
            }
        }
    }
}
