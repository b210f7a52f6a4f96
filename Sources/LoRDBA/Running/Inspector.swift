#if canImport(Glibc)
import Glibc
#endif

/// Describes what a file holds without converting anything: a `.lba` (fully validated,
/// every checksum checked) or a safetensors adapter (validated, modules recognised).
public enum Inspector {
    /// Why inspection failed; one line naming the file and the problem.
    public enum Failure: Error, CustomStringConvertible {
        case lba(LBAError)
        case adapter(AdapterError)
        case safetensors(SafeTensorsError)

        public var description: String {
            switch self {
            case .lba(let e): e.description
            case .adapter(let e): e.description
            case .safetensors(let e): e.description
            }
        }
    }

    /// A human-readable description of `path` (a `.lba`, a safetensors file or an adapter folder).
    public static func describe(_ path: String) throws(Failure) -> String {
        try inspect(path, lba: { describe(lba: $0, path: path) }, adapter: describe(adapter:)) { file, error in
            let subject = error.subject.map { ReadingText.oneLine($0) + ": " } ?? ""
            return describe(safetensors: file) + "\nnot convertible: \(subject)\(error.problem)"
        }
    }

    /// Reads `path` as a `.lba`, else as an adapter, else (an adapter it cannot convert) as a
    /// safetensors file with the reason, and hands it to the matching description.
    static func inspect<T>(_ path: String, lba: (LBAFile) -> T, adapter: (AdapterSource) -> T,
                           safetensors: (SafeTensorsFile, AdapterError) -> T) throws(Failure) -> T {
        if startsWithLBAMagic(path) {
            do { return lba(try LBAFile(path: path)) } catch { throw .lba(error) }
        }
        do {
            return adapter(try AdapterSource.open(path))
        } catch {
            // Not an adapter we can convert (or not without choosing one of its adapters): still
            // show the safetensors file itself when it is one.
            switch error {
            case .noLoRATensors, .notLoRA, .ambiguousAdapterName: break
            default: throw .adapter(error)
            }
            guard let file = try? SafeTensorsFile(path: path) else { throw .adapter(error) }
            return safetensors(file, error)
        }
    }

    static func startsWithLBAMagic(_ path: String) -> Bool {
        guard let file = try? MappedFile(path: path), file.count >= LBAFormat.magic.count else { return false }
        return file.withBytes { bytes in LBAFormat.magic.indices.allSatisfy { bytes[$0] == LBAFormat.magic[$0] } }
    }

    static func describe(lba: LBAFile, path: String) -> String {
        let adapter = lba.adapter
        let compressed = lba.sections.filter { $0.encoding == .zstd }.count
        var lines = [
            "file       \(path) (\(lba.fileSize) bytes)",
            "format     LoRDBA .lba \(lba.version.major).\(lba.version.minor); integrity ok: preamble, table and \(lba.sections.count) section checksums verified",
            "source     \(adapter.layout.rawValue) layout",
            "scales     a, b stored as \(adapter.scaleDType.rawValue); m as f32",
            "sections   \(lba.sections.count) (\(compressed) zstd-compressed), table \(lba.tableLength) bytes",
        ]
        lines += metadataLines(adapter.metadata)
        var bytesByModule: [String: Int] = [:]
        for s in lba.sections { if let m = s.module { bytesByModule[m, default: 0] += s.storedLength } }
        let signBits = adapter.modules.reduce(0) { $0 + $1.binaryRank * ($1.inFeatures + $1.outFeatures) }
        lines.append("modules    \(adapter.modules.count), \(signBits) sign bits")
        let header = ["module", "kind", "in", "out", "r", "k", "s", "input scale", "m range", "bytes"]
        var rows: [[String]] = []
        for m in adapter.modules {
            var kind = m.kind.name
            if case .conv(let kernel) = m.kind { kind += kernel.map(String.init).joined(separator: "×") }
            let mMin = m.scales.middle.map { abs($0) }.min() ?? 0
            let mMax = m.scales.middle.map { abs($0) }.max() ?? 0
            rows.append([m.name, kind, String(m.inFeatures), String(m.outFeatures), String(m.loraRank), String(m.binaryRank),
                         shortNumber(m.loraScale), m.scales.input == nil ? "none" : "yes",
                         "\(shortNumber(Double(mMin)))…\(shortNumber(Double(mMax)))", String(bytesByModule[m.name] ?? 0)])
        }
        lines.append(Format.alignedTable(header: header, rows: rows, leftColumns: [0, 1]))
        if adapter.carried.isEmpty {
            lines.append("carried    none")
        } else {
            lines.append("carried    \(adapter.carried.count) tensor\(adapter.carried.count == 1 ? "" : "s") unchanged:")
            for t in adapter.carried {
                lines.append("  \(t.name) \(t.dtype.rawValue) \(t.shape) (\(t.bytes.count) bytes)" + (t.role.map { ", role \($0.rawValue)" } ?? ""))
            }
        }
        if !lba.doraMagnitudes.isEmpty {
            lines.append("dora       \(lba.doraMagnitudes.count) DoRA module\(lba.doraMagnitudes.count == 1 ? "" : "s") (magnitudes carried; apply as DoRA, formats/lba.md §7)")
        }
        return lines.joined(separator: "\n")
    }

    static func describe(adapter source: AdapterSource) -> String {
        var lines = [
            "file       \(source.weightsPath) (\(source.inputBytes) bytes), safetensors, validated",
            "config     \(source.configPath ?? "none")",
            "layout     \(source.layout.rawValue) adapter, \(source.modules.count) LoRA modules",
        ]
        lines += metadataLines(source.metadata)
        let header = ["module", "kind", "in", "out", "r", "s", "dtype", "A tensor"]
        let rows = source.modules.map { m -> [String] in
            var kind = m.kind.name
            if case .conv(let kernel) = m.kind { kind += kernel.map(String.init).joined(separator: "×") }
            return [m.name, kind, String(m.inFeatures), String(m.outFeatures), String(m.rank), shortNumber(m.scale),
                    m.dtype.rawValue, m.aTensor.name + " " + m.aTensor.shape.description]
        }
        lines.append(Format.alignedTable(header: header, rows: rows, leftColumns: [0, 1, 6, 7]))
        if source.carried.isEmpty {
            lines.append("other      none")
        } else {
            lines.append("other      \(source.carried.count) tensor\(source.carried.count == 1 ? "" : "s"), carried unchanged by a conversion:")
            for t in source.carried { lines.append("  \(t.name) \(t.dtype.rawValue) \(t.shape)") }
        }
        for note in source.notes { lines.append("note       \(note)") }
        return lines.joined(separator: "\n")
    }

    static func describe(safetensors file: SafeTensorsFile) -> String {
        var lines = ["file       \(file.path) (\(file.fileSize) bytes), safetensors, validated",
                     "tensors    \(file.tensors.count)"]
        for t in file.tensors { lines.append("  \(t.name) \(t.dtype.rawValue) \(t.shape)") }
        return lines.joined(separator: "\n")
    }

    static func shortNumber(_ v: Double) -> String {
        if v == 0 { return "0" }
        guard v.isFinite else { return "\(v)" }
        let a = abs(v)
        if a >= 0.01 && a < 10_000 { return Format.fixed(v, a >= 100 ? 1 : 3) }
        var exponent = 0
        var mantissa = a
        while mantissa >= 10 { mantissa /= 10; exponent += 1 }
        while mantissa < 1 { mantissa *= 10; exponent -= 1 }
        if (mantissa * 100).rounded() >= 1000 { mantissa /= 10; exponent += 1 }  // 9.999 shows as 1.00e+1
        return (v < 0 ? "-" : "") + Format.fixed(mantissa, 2) + "e" + String(exponent)
    }
}
