/// Number formatting shared by the text, HTML, validation and CI reports (no Foundation needed).
public enum Format {
    /// `value` with `digits` decimals.
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        let scale = (0..<digits).reduce(1.0) { v, _ in v * 10 }
        // Beyond what Int64 holds the digits mean nothing: scientific notation instead of a trap.
        guard abs(value) * scale < 9e18 else { return "\(value)" }
        let rounded = (abs(value) * scale).rounded()
        let whole = Int64(rounded / scale)
        var fraction = String(Int64(rounded - Double(whole) * scale))
        fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
        let sign = value < 0 && rounded != 0 ? "-" : ""
        return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    /// A figure with 3 decimals, or `-` when not applicable.
    public static func optional(_ value: Double?) -> String {
        value.map { fixed($0, 3) } ?? "-"
    }

    /// `12.3×`.
    public static func ratio(_ value: Double) -> String {
        fixed(value, value >= 100 ? 0 : 1) + "×"
    }

    /// Columns padded to their widest cell; `leftColumns` are left-aligned, the rest right-aligned.
    public static func alignedTable(header: [String], rows: [[String]], leftColumns: Set<Int>) -> String {
        let widths = header.indices.map { c in max(header[c].count, rows.map { $0[c].count }.max() ?? 0) }
        func render(_ cells: [String]) -> String {
            cells.indices.map { c in
                let pad = String(repeating: " ", count: widths[c] - cells[c].count)
                return leftColumns.contains(c) ? cells[c] + pad : pad + cells[c]
            }.joined(separator: "  ")
        }
        return ([render(header)] + rows.map(render)).joined(separator: "\n")
    }

    /// Decimal byte sizes: `812 B`, `27.1 kB`, `80.2 MB`.
    public static func bytes(_ count: Int) -> String {
        let v = Double(count)
        if count < 1000 { return "\(count) B" }
        if v < 1e6 { return fixed(v / 1e3, 1) + " kB" }
        if v < 1e9 { return fixed(v / 1e6, 1) + " MB" }
        return fixed(v / 1e9, 2) + " GB"
    }
}
