/// Plain-text renderings of a conversion report for the terminal.
public struct TerminalReport: Sendable {
    /// Use ANSI colour (only when writing to a terminal).
    public var colour: Bool

    public init(colour: Bool) {
        self.colour = colour
    }

    /// The summary after a conversion: one line with sizes and errors, one with the worst modules.
    public func summary(_ report: ConversionReport) -> String {
        let s = report.summary
        var line = "\(paint("ok", .green)) \(report.input) → \(report.output): \(s.modules) module\(s.modules == 1 ? "" : "s"), "
        line += "\(Format.bytes(s.bytesIn)) → \(Format.bytes(s.bytesOut)) (\(Format.ratio(s.ratioVsInput)) smaller, "
        line += "\(Format.ratio(s.ratioVsFP16)) vs fp16), product error median \(Format.fixed(s.productErrorMedian, 3)), "
        line += "worst \(paint(Format.fixed(s.productErrorMax, 3), s.productErrorMax > 0.9 ? .red : .plain))"
        if !s.worst.isEmpty {
            let worst = s.worst.map { m in
                "\(m.name) \(Format.fixed(m.errors.productError, 3)) (ρ_A \(Format.optional(m.errors.rhoA)), ρ_B \(Format.optional(m.errors.rhoB)))"
            }
            line += "\n   worst: " + worst.joined(separator: "; ")
        }
        if let medians = report.baselineMedians {
            line += "\n   same bytes, median product error: " + medians.map { "\($0.0) \(Format.fixed($0.1, 3))" }.joined(separator: ", ")
            line += "\n   (\(ConversionReport.proxyCaveat))"
        }
        for note in report.notes { line += "\n   note: \(note)" }
        return line
    }

    /// The full per-module table, grouped by layer, columns aligned; each module is named by its
    /// path below the layer index, so modules with one short name (`dense`) stay distinct.
    public func table(_ report: ConversionReport) -> String {
        let header = ["layer", "module", "in", "out", "r", "k", "ρ_A", "ρ_B", "ε_A", "ε_B", "error", "bound", "plain", "cosine", "bytes", "method"]
        var rows: [[String]] = []
        let named = report.modules.map { (ModuleName($0.name), $0) }
        let ordered = named.enumerated().sorted { lhs, rhs in
            let l = lhs.element.0.layer ?? Int.max, r = rhs.element.0.layer ?? Int.max
            return (l, lhs.offset) < (r, rhs.offset)
        }
        var lastLayer: Int?? = .none
        for (_, (name, m)) in ordered {
            let layerText: String
            if lastLayer == .some(name.layer) { layerText = "" } else { layerText = name.layer.map(String.init) ?? "-" }
            lastLayer = .some(name.layer)
            let e = m.errors
            rows.append([
                layerText, name.layer == nil ? m.name : ModuleName.pathBelowLayer(m.name), String(m.inFeatures), String(m.outFeatures),
                String(m.rank), String(m.binaryRank), Format.optional(e.rhoA), Format.optional(e.rhoB),
                Format.optional(e.errorA), Format.optional(e.errorB), Format.fixed(e.productError, 3),
                Format.optional(e.productErrorBound), Format.fixed(m.plainProductError, 3), Format.fixed(e.cosine, 3),
                String(m.bytes), m.method,
            ])
        }
        let lines = Format.alignedTable(header: header, rows: rows, leftColumns: [0, 1, 15]).split(separator: "\n", omittingEmptySubsequences: false)
        return ([paint(String(lines[0]), .bold)] + lines.dropFirst().map(String.init)).joined(separator: "\n")
    }

    enum Style { case plain, green, red, bold }

    func paint(_ text: String, _ style: Style) -> String {
        guard colour else { return text }
        switch style {
        case .plain: return text
        case .green: return "\u{1B}[32m\(text)\u{1B}[0m"
        case .red: return "\u{1B}[31m\(text)\u{1B}[0m"
        case .bold: return "\u{1B}[1m\(text)\u{1B}[0m"
        }
    }
}
