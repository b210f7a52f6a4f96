/// What a carried tensor is for (`role` in the `.lba` table, format 1.1), so a runtime or an
/// exporter does not have to guess from its name.
public enum CarriedRole: String, Sendable, CaseIterable, Equatable {
    /// A DoRA magnitude vector (`….lora_magnitude_vector`), one per output feature of its module.
    case magnitude
    /// A whole layer trained and saved in full (PEFT `modules_to_save`, e.g. a classifier head).
    case modulesToSave = "modules_to_save"
    /// A bias trained with the adapter (`….lora_B.bias`, `….bias`).
    case bias
    /// Anything else, carried unchanged.
    case other

    /// The name of the DoRA magnitude tensor that belongs to the module `moduleName` in a PEFT
    /// adapter (`<module>.lora_magnitude_vector`).
    public static func magnitudeName(forModule moduleName: String) -> String {
        moduleName + magnitudeSuffix
    }

    /// The suffix of a DoRA magnitude's name (PEFT's, kept by the `.lba` format).
    public static let magnitudeSuffix = ".lora_magnitude_vector"

    /// The role of the tensor `name` given the module names of the adapter and the entries of
    /// PEFT's `modules_to_save` (module names or suffixes of module paths).
    public static func classify(_ name: String, moduleNames: Set<String>, modulesToSave: [String]) -> CarriedRole {
        if name.hasSuffix(magnitudeSuffix), moduleNames.contains(String(name.dropLast(magnitudeSuffix.count))) { return .magnitude }
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count >= 2 {
            parts.removeLast() // the parameter name: weight, bias, …
            let modulePath = parts.joined(separator: ".")
            for entry in modulesToSave where !entry.isEmpty {
                if modulePath == entry || modulePath.hasSuffix("." + entry) { return .modulesToSave }
            }
        }
        if name.hasSuffix(".bias") { return .bias }
        return .other
    }
}
