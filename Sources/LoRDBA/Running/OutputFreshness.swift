#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--skip-existing`: whether an existing output already is what this run would write.
///
/// An output is up to date when it is a regular file, a valid `.lba` (every check of
/// ``LBAFile``), and its `lordba.*` metadata (``ConversionMetadata``: tool version, SHA-256 of the
/// input weights, source config, every option that shapes the stored modules, calibration hash)
/// equals, key for key, what this run would record.
public enum OutputFreshness: Sendable, Equatable {
    /// Nothing at the output path.
    case absent
    /// A `.lba` this run would write byte for byte the same way: skip it.
    case upToDate
    /// A valid `.lba` written by the converter that differs (the reason names the first key):
    /// replaced without `--force`.
    case outdated(String)
    /// Something else (not a regular file, not a valid `.lba`, no converter metadata): left to
    /// the ordinary rules (refused without `--force`).
    case foreign(String)

    /// The state of `output` for converting `input` with `options`.
    public static func check(output: String, input: String, options: ConversionOptions) -> OutputFreshness {
        guard let info = FileSystem.status(output, followingLinks: false) else { return .absent }
        guard FileKind(mode: info.st_mode) == .regular else { return .foreign("not a regular file") }
        let recorded: [String: String]
        do {
            recorded = try LBAFile(path: output).adapter.metadata.filter { $0.key.hasPrefix("lordba.") }
        } catch {
            return .foreign("not a valid .lba (\(error.description))")
        }
        guard recorded[ConversionMetadata.Key.inputSHA256] != nil else { return .foreign("no lordba.input_sha256 recorded") }
        let expected: [String: String]
        do {
            let source = try AdapterSource.open(input, configPath: options.configPath, dropExtra: options.dropExtra,
                                                adapterName: options.adapterName)
            let hash = try SHA256.hex(ofFile: source.weightsPath)
            let calibration = options.calibrationPath.flatMap { try? SHA256.hex(ofFile: $0) }
            expected = ConversionMetadata.entries(source: source, options: options, inputSHA256: hash,
                                                  calibrationSHA256: calibration)
        } catch {
            // The conversion itself reports why the input cannot be read.
            return .outdated("the input cannot be read")
        }
        for key in Set(expected.keys).union(recorded.keys).sorted() where expected[key] != recorded[key] {
            return .outdated(key == ConversionMetadata.Key.inputSHA256 ? "the input changed" : "\(key) differs")
        }
        return .upToDate
    }
}
