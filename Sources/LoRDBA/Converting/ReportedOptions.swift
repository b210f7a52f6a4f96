extension ConversionOptions {
    /// Every option of a conversion by its command-line name (`--scale-dtype` → `scale_dtype`),
    /// defaults included, as the JSON report records them (`inputs[].options`). A flag that was
    /// not given and has no default is `null`.
    public var reported: [(String, JSONValue)] {
        let p = pipeline
        func optional<T>(_ value: T?, _ json: (T) -> JSONValue) -> JSONValue { value.map(json) ?? .null }
        var budgetBytes: Int?, sizeRatio: Double?
        switch budget {
        case .bytes(let bytes): budgetBytes = bytes
        case .sizeRatio(let ratio): sizeRatio = ratio
        case nil: break
        }
        return [
            ("plain", .bool(p.isPlain)),
            ("factorization", .string(p.factorization.rawValue)),
            ("refit_sweeps", .integer(Int64(p.refitSweeps))),
            ("bcd_rounds", .integer(Int64(p.descentRounds))),
            ("refine_steps", .integer(0)),  // always 0: refinement against the model is lordba-refine's
            ("binary_rank", .string(ConversionMetadata.binaryRankText(p.binaryRank))),
            ("target_error", optional(p.targetError, JSONValue.double)),
            ("scales", .string(p.compactScales ? "compact" : "full")),
            ("scale_dtype", .string(p.scaleDType.rawValue)),
            ("seed", p.seed <= UInt64(Int64.max) ? .integer(Int64(p.seed)) : .string(String(p.seed))),
            ("size_ratio", optional(sizeRatio, JSONValue.double)),
            ("budget", optional(budgetBytes) { .integer(Int64($0)) }),
            ("budget_objective", budget == nil ? .null : .string(budgetObjective.rawValue)),
            ("calibration", optional(calibrationPath, JSONValue.string)),
            ("config", optional(configPath, JSONValue.string)),
            ("adapter_name", optional(adapterName, JSONValue.string)),
            ("drop_extra", .bool(dropExtra)),
            ("compare", .bool(compare)),
            ("force", .bool(overwrite)),
        ]
    }

    /// The report's record of a conversion with these options whose `.lba` metadata is
    /// `recorded` (``ConversionMetadata``), reading `configPath` to hash it.
    func provenance(recorded: [String: String], configPath: String?) -> ConversionReport.Provenance {
        var provenance = ConversionReport.Provenance()
        provenance.toolVersion = recorded[ConversionMetadata.Key.toolVersion] ?? ToolVersion.current
        provenance.inputSHA256 = recorded[ConversionMetadata.Key.inputSHA256]
        provenance.calibrationSHA256 = recorded[ConversionMetadata.Key.calibrationSHA256]
        provenance.configPath = configPath
        provenance.configSHA256 = configPath.flatMap { try? SHA256.hex(ofFile: $0) }
        provenance.options = reported
        return provenance
    }
}
