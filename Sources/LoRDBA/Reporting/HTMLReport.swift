/// A self-contained HTML page for a run: inline SVG charts, no scripts, no network (a
/// Content-Security-Policy forbids any load), readable from phone width up.
///
/// A batch page opens with an overview (``HTMLOverview``: failed inputs and the `--max-error`
/// gate first, then one row per input). Per input: headline figures (ranks included), a layer ×
/// module-path heatmap of product error over the adapter's own range, each module's stored error
/// against plain LoRDBA's, the stored sizes, and the worst modules; the charts are in
/// ``HTMLCharts``.
public enum HTMLReport {
    /// The page for all converted inputs of a run.
    /// - Parameter maxError: the `--max-error` gate, shown in the overview.
    public static func page(_ reports: [ConversionReport], failures: [(input: String, reason: String)] = [],
                            maxError: Double? = nil) -> String {
        var body = HTMLOverview.section(reports, failures: failures, maxError: maxError)
        for (index, report) in reports.enumerated() { body += section(report, index: index) }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
        <meta name="generator" content="lordba-convert \(escape(ToolVersion.current))">
        <title>LoRDBA conversion report</title>
        <style>
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
        header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
        header p{margin:4px 0 0;color:#b9c0cc}
        section{background:#fff;margin:18px 28px;padding:18px 22px;border-radius:8px;box-shadow:0 1px 3px #0002}
        h2{margin:0 0 4px;font-size:17px;overflow-wrap:anywhere}h3{font-size:14px;margin:18px 0 6px;color:#39414f}
        .sub{color:#5b6475;margin:0 0 12px;overflow-wrap:anywhere}
        .cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
        .card{background:#f1f3f7;border-radius:6px;padding:8px 12px;min-width:120px}
        .card b{display:block;font-size:18px}.card span{color:#5b6475;font-size:12px}
        .charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.charts>div{max-width:100%}
        svg{max-width:100%;height:auto}svg text{font-family:system-ui,sans-serif}
        table{border-collapse:collapse;font-size:12px;max-width:100%}td,th{padding:3px 8px;text-align:right;border-bottom:1px solid #e4e7ec}
        th{background:#f1f3f7}td.l,th.l{text-align:left}code{font-size:12px;overflow-wrap:anywhere}td code{overflow-wrap:normal}
        .scroll{overflow-x:auto;max-width:100%}
        .note{color:#6a5d00;background:#fff8d6;padding:4px 8px;border-radius:4px;margin:4px 0;overflow-wrap:anywhere}
        .caption{color:#5b6475;font-size:12px;margin:2px 0 0;max-width:480px}section li{overflow-wrap:anywhere}
        @media (max-width:720px){
        header{padding:14px 12px}section{margin:10px 6px;padding:12px 10px}.card{min-width:0;flex:1 1 40%}
        table.rows,table.rows tbody,table.rows tr,table.rows td{display:block;width:auto}
        table.rows tr:first-child{display:none}table.rows tr{border:1px solid #e4e7ec;border-radius:6px;margin:0 0 8px;padding:4px 6px}
        table.rows td,table.rows td.l{display:flex;justify-content:space-between;gap:12px;text-align:right;border:0;padding:1px 2px}
        table.rows td::before{content:attr(data-label);color:#5b6475;text-align:left;flex:none}
        table.rows td code{text-align:right;min-width:0;overflow-wrap:anywhere;word-break:break-all}
        }
        </style></head><body>
        <header><h1>LoRDBA conversion report</h1>
        <p>\(reports.count) adapter\(reports.count == 1 ? "" : "s") converted\(failures.isEmpty ? "" : ", \(failures.count) failed") by lordba-convert \(escape(ToolVersion.current)). Errors are relative Frobenius errors of the adapter product ΔW = s·B·A; lower is better.</p></header>
        \(body)
        </body></html>

        """
    }

    static func section(_ r: ConversionReport, index: Int = 0) -> String {
        let s = r.summary
        var html = "<section><h2>\(escape(r.input))</h2><p class=\"sub\">→ <code>\(escape(r.output))</code> · \(r.layout.rawValue) layout · \(Format.fixed(r.seconds, 2)) s</p>"
        html += "<div class=\"cards\">"
        html += card(String(s.modules), "modules")
        html += card("\(Format.bytes(s.bytesIn)) → \(Format.bytes(s.bytesOut))", "file size")
        html += card(Format.ratio(s.ratioVsFP16), "smaller than fp16")
        html += card(Format.fixed(s.productErrorMedian, 3), "median product error")
        html += card(Format.fixed(s.productErrorMax, 3), "worst product error")
        html += card(range(r.modules.map(\.rank)), "LoRA rank r")
        html += card(range(r.modules.map(\.binaryRank)), "binary rank k")
        html += "</div>"
        for note in r.notes { html += "<div class=\"note\">\(escape(note))</div>" }
        html += "<div class=\"charts\"><div><h3>Product error by layer and module</h3>\(HTMLCharts.heatmap(r, index: index))</div>"
        html += "<div><h3>Stored error against plain LoRDBA, per module</h3>\(HTMLCharts.gains(r))</div>"
        html += "<div><h3>Size as stored</h3>\(HTMLCharts.sizes(r))</div></div>"
        if let medians = r.baselineMedians {
            html += "<h3>What the same bytes buy otherwise (median product error)</h3><table class=\"rows\"><tr>"
            html += medians.map { "<th>\(escape($0.0.replacingUnderscores()))</th>" }.joined() + "</tr><tr>"
            html += medians.map { "<td data-label=\"\(escape($0.0.replacingUnderscores()))\">\(Format.fixed($0.1, 3))</td>" }.joined() + "</tr></table>"
            html += "<div class=\"note\">\(escape(ConversionReport.proxyCaveat))</div>"
        }
        let worst = r.modules.indices.sorted { (r.modules[$0].errors.productError, $1) > (r.modules[$1].errors.productError, $0) }.prefix(8)
        html += "<h3>Worst modules</h3>\(table(worst.map { r.modules[$0] }))"
        html += "<details><summary>All \(r.modules.count) modules</summary>\(table(r.modules))</details>"
        return html + "</section>"
    }

    /// `16`, or `4–32 (mixed)` when the modules differ.
    static func range(_ values: [Int]) -> String {
        guard let low = values.min(), let high = values.max() else { return "-" }
        return low == high ? String(low) : "\(low)–\(high) (mixed)"
    }

    static func card(_ value: String, _ label: String) -> String {
        "<div class=\"card\"><b>\(escape(value))</b><span>\(escape(label))</span></div>"
    }

    /// The module table; on narrow screens each row becomes a card of labelled values.
    static func table(_ modules: [ConversionReport.Module]) -> String {
        let scale = ErrorScale(modules.map(\.errors.productError))
        let columns = ["module", "in", "out", "r", "k", "ρ_A", "ρ_B", "ε_A", "ε_B", "error", "bound", "plain", "cosine", "bytes", "method"]
        var html = "<div class=\"scroll\"><table class=\"rows\"><tr>"
        for (i, c) in columns.enumerated() { html += i == 0 || i == columns.count - 1 ? "<th class=\"l\">\(c)</th>" : "<th>\(c)</th>" }
        html += "</tr>"
        for m in modules {
            let e = m.errors
            func td(_ label: String, _ value: String, _ extra: String = "") -> String {
                "<td data-label=\"\(label)\"\(extra)>\(value)</td>"
            }
            html += "<tr data-module=\"\(escape(m.name))\"><td class=\"l\" data-label=\"module\"><code>\(escape(m.name))</code></td>"
            html += td("in", String(m.inFeatures)) + td("out", String(m.outFeatures)) + td("r", String(m.rank)) + td("k", String(m.binaryRank))
            html += td("ρ_A", Format.optional(e.rhoA)) + td("ρ_B", Format.optional(e.rhoB))
            html += td("ε_A", Format.optional(e.errorA)) + td("ε_B", Format.optional(e.errorB))
            html += td("error", Format.fixed(e.productError, 3), " style=\"background:\(colour(scale.position(e.productError)))33\"")
            html += td("bound", Format.optional(e.productErrorBound)) + td("plain", Format.fixed(m.plainProductError, 3))
            html += td("cosine", Format.fixed(e.cosine, 3)) + td("bytes", String(m.bytes))
            html += "<td class=\"l\" data-label=\"method\">\(escape(m.method))</td></tr>"
        }
        return html + "</table></div>"
    }

    /// A perceptually ordered colour for a value in [0, 1] (dark blue → teal → yellow → red).
    static func colour(_ value: Double) -> String {
        let stops: [(Double, Double, Double)] = [(0.16, 0.20, 0.45), (0.13, 0.55, 0.55), (0.55, 0.78, 0.30), (0.98, 0.80, 0.20), (0.85, 0.25, 0.15)]
        let v = min(max(value.isFinite ? value : 1, 0), 1) * Double(stops.count - 1)
        let i = min(Int(v), stops.count - 2)
        let t = v - Double(i)
        let (r0, g0, b0) = stops[i], (r1, g1, b1) = stops[i + 1]
        func hex(_ x: Double) -> String {
            let n = Int((x * 255).rounded())
            let digits = String(n, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        return "#" + hex(r0 + (r1 - r0) * t) + hex(g0 + (g1 - g0) * t) + hex(b0 + (b1 - b0) * t)
    }

    /// Escapes text for HTML element content and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(map { $0 == "_" ? " " : $0 }) }
}
