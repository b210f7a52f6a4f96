/// A self-contained HTML page for a run: inline SVG charts, no scripts, no network.
///
/// Per input: headline figures, a layer × module-type heatmap of product error, the ρ of
/// every factor against the curve ε = ρ/√(1+ρ²), sizes before and after, and the worst modules.
public enum HTMLReport {
    /// The page for all converted inputs of a run.
    public static func page(_ reports: [ConversionReport], failures: [(input: String, reason: String)] = []) -> String {
        var body = ""
        for report in reports { body += section(report) }
        if !failures.isEmpty {
            body += "<section><h2>Failed inputs</h2><ul>"
            for f in failures { body += "<li><code>\(escape(f.input))</code>: \(escape(f.reason))</li>" }
            body += "</ul></section>"
        }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>LoRDBA conversion report</title>
        <style>
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
        header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
        header p{margin:4px 0 0;color:#b9c0cc}
        section{background:#fff;margin:18px 28px;padding:18px 22px;border-radius:8px;box-shadow:0 1px 3px #0002}
        h2{margin:0 0 4px;font-size:17px}h3{font-size:14px;margin:18px 0 6px;color:#39414f}
        .sub{color:#5b6475;margin:0 0 12px;word-break:break-all}
        .cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}
        .card{background:#f1f3f7;border-radius:6px;padding:8px 12px;min-width:120px}
        .card b{display:block;font-size:18px}.card span{color:#5b6475;font-size:12px}
        .charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
        table{border-collapse:collapse;font-size:12px}td,th{padding:3px 8px;text-align:right;border-bottom:1px solid #e4e7ec}
        th{background:#f1f3f7}td.l,th.l{text-align:left}code{font-size:12px}
        svg text{font-family:system-ui,sans-serif}
        .note{color:#6a5d00;background:#fff8d6;padding:4px 8px;border-radius:4px;margin:4px 0}
        </style></head><body>
        <header><h1>LoRDBA conversion report</h1>
        <p>\(reports.count) adapter\(reports.count == 1 ? "" : "s") converted\(failures.isEmpty ? "" : ", \(failures.count) failed"). Errors are relative Frobenius errors of the adapter product ΔW = s·B·A; lower is better.</p></header>
        \(body)
        </body></html>

        """
    }

    static func section(_ r: ConversionReport) -> String {
        let s = r.summary
        var html = "<section><h2>\(escape(r.input))</h2><p class=\"sub\">→ <code>\(escape(r.output))</code> · \(r.layout.rawValue) layout · \(Format.fixed(r.seconds, 2)) s</p>"
        html += "<div class=\"cards\">"
        html += card(String(s.modules), "modules")
        html += card("\(Format.bytes(s.bytesIn)) → \(Format.bytes(s.bytesOut))", "file size")
        html += card(Format.ratio(s.ratioVsFP16), "smaller than fp16")
        html += card(Format.fixed(s.productErrorMedian, 3), "median product error")
        html += card(Format.fixed(s.productErrorMax, 3), "worst product error")
        html += "</div>"
        for note in r.notes { html += "<div class=\"note\">\(escape(note))</div>" }
        html += "<div class=\"charts\"><div><h3>Product error by layer and module</h3>\(heatmap(r))</div>"
        html += "<div><h3>Residual-to-magnitude ratio ρ and factor error ε</h3>\(scatter(r))</div>"
        html += "<div><h3>Size</h3>\(sizes(r))</div></div>"
        if let medians = r.baselineMedians {
            html += "<h3>What the same bytes buy otherwise (median product error)</h3><table><tr>"
            html += medians.map { "<th>\(escape($0.0.replacingUnderscores()))</th>" }.joined() + "</tr><tr>"
            html += medians.map { "<td>\(Format.fixed($0.1, 3))</td>" }.joined() + "</tr></table>"
            html += "<div class=\"note\">\(escape(ConversionReport.proxyCaveat))</div>"
        }
        html += "<h3>Worst modules</h3>\(table(Array(r.modules.sorted { $0.errors.productError > $1.errors.productError }.prefix(8))))"
        html += "<details><summary>All \(r.modules.count) modules</summary>\(table(r.modules))</details>"
        return html + "</section>"
    }

    static func card(_ value: String, _ label: String) -> String {
        "<div class=\"card\"><b>\(escape(value))</b><span>\(escape(label))</span></div>"
    }

    /// Layers down, module types across, each cell coloured by product error (0 → 1).
    static func heatmap(_ r: ConversionReport) -> String {
        let named = r.modules.map { (ModuleName($0.name), $0) }
        var types: [String] = []
        for (n, _) in named where !types.contains(n.type) { types.append(n.type) }
        // Attention before MLP, in the order a transformer block runs them; anything else after, by name.
        let order = ["q_proj", "query", "to_q", "k_proj", "key", "to_k", "v_proj", "value", "to_v", "o_proj", "dense",
                     "to_out", "gate_proj", "up_proj", "down_proj", "fc1", "fc2"]
        types.sort { (order.firstIndex(of: $0) ?? order.count, $0) < (order.firstIndex(of: $1) ?? order.count, $1) }
        var layers: [Int?] = []
        for (n, _) in named where !layers.contains(where: { $0 == n.layer }) { layers.append(n.layer) }
        layers.sort { ($0 ?? Int.max) < ($1 ?? Int.max) }
        let cell = max(14, min(34, 480 / max(types.count, 1)))
        let rowHeight = max(10, min(22, 520 / max(layers.count, 1)))
        let left = 54, top = 70
        let width = left + cell * types.count + 90
        let height = max(top + rowHeight * layers.count + 20, top + 10 * 14 + 16)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"heatmap of product error\">"
        for (c, t) in types.enumerated() {
            let x = left + c * cell + cell / 2
            svg += "<text x=\"\(x)\" y=\"\(top - 6)\" font-size=\"11\" transform=\"rotate(-45 \(x) \(top - 6))\">\(escape(t))</text>"
        }
        for (row, layer) in layers.enumerated() {
            let y = top + row * rowHeight
            if layers.count <= 40 || row % 4 == 0 {
                svg += "<text x=\"\(left - 6)\" y=\"\(y + rowHeight - 3)\" font-size=\"10\" text-anchor=\"end\">\(layer.map { "layer \($0)" } ?? "other")</text>"
            }
            for (c, t) in types.enumerated() {
                guard let m = named.first(where: { $0.0.layer == layer && $0.0.type == t })?.1 else { continue }
                let e = m.errors.productError
                svg += "<rect x=\"\(left + c * cell)\" y=\"\(y)\" width=\"\(cell - 1)\" height=\"\(rowHeight - 1)\" fill=\"\(colour(e))\"><title>\(escape(m.name)): \(Format.fixed(e, 3))</title></rect>"
            }
        }
        // Legend.
        let lx = left + cell * types.count + 20
        for i in 0..<10 {
            let v = 1 - Double(i) / 9
            svg += "<rect x=\"\(lx)\" y=\"\(top + i * 14)\" width=\"14\" height=\"14\" fill=\"\(colour(v))\"/>"
        }
        svg += "<text x=\"\(lx + 18)\" y=\"\(top + 10)\" font-size=\"10\">1.0</text><text x=\"\(lx + 18)\" y=\"\(top + 9 * 14 + 10)\" font-size=\"10\">0.0</text>"
        return svg + "</svg>"
    }

    /// Every factor as a point (ρ, ε) over the curve ε = ρ/√(1+ρ²).
    static func scatter(_ r: ConversionReport) -> String {
        let w = 380, h = 280, left = 46, bottom = 36, top = 12, right = 12
        let points = r.modules.flatMap { m -> [(Double, Double, String, Bool)] in
            var out: [(Double, Double, String, Bool)] = []
            if let rho = m.errors.rhoA, let e = m.errors.errorA { out.append((rho, e, m.name + " A", true)) }
            if let rho = m.errors.rhoB, let e = m.errors.errorB { out.append((rho, e, m.name + " B", false)) }
            return out
        }
        let maxRho = max(1.0, (points.map(\.0).max() ?? 1) * 1.1)
        func px(_ rho: Double) -> Double { Double(left) + rho / maxRho * Double(w - left - right) }
        func py(_ e: Double) -> Double { Double(h - bottom) - e * Double(h - bottom - top) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" role=\"img\" aria-label=\"rho against epsilon\">"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w - left - right)\" height=\"\(h - top - bottom)\" fill=\"#fafbfc\" stroke=\"#ccd\"/>"
        for i in 0...4 {
            let e = Double(i) / 4
            svg += "<text x=\"\(left - 6)\" y=\"\(Format.fixed(py(e) + 4, 1))\" font-size=\"10\" text-anchor=\"end\">\(Format.fixed(e, 2))</text>"
            let rho = maxRho * Double(i) / 4
            svg += "<text x=\"\(Format.fixed(px(rho), 1))\" y=\"\(h - bottom + 14)\" font-size=\"10\" text-anchor=\"middle\">\(Format.fixed(rho, 2))</text>"
        }
        svg += "<text x=\"\((w + left) / 2)\" y=\"\(h - 4)\" font-size=\"11\" text-anchor=\"middle\">ρ = ‖|M| − uvᵀ‖ / ‖uvᵀ‖</text>"
        svg += "<text x=\"12\" y=\"\((h - bottom + top) / 2)\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \((h - bottom + top) / 2))\">ε = ‖M − M̂‖ / ‖M‖</text>"
        var path = ""
        for i in 0...60 {
            let rho = maxRho * Double(i) / 60
            let e = rho / (1 + rho * rho).squareRoot()
            path += (i == 0 ? "M" : "L") + "\(Format.fixed(px(rho), 1)) \(Format.fixed(py(e), 1))"
        }
        svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
        for (rho, e, name, isA) in points {
            svg += "<circle cx=\"\(Format.fixed(px(rho), 1))\" cy=\"\(Format.fixed(py(e), 1))\" r=\"3\" fill=\"\(isA ? "#2f6fd6" : "#e0742c")\" fill-opacity=\"0.75\"><title>\(escape(name)): ρ \(Format.fixed(rho, 3)), ε \(Format.fixed(e, 3))</title></circle>"
        }
        svg += "<circle cx=\"\(left + 12)\" cy=\"\(top + 12)\" r=\"4\" fill=\"#2f6fd6\"/><text x=\"\(left + 20)\" y=\"\(top + 16)\" font-size=\"11\">A factors</text>"
        svg += "<circle cx=\"\(left + 12)\" cy=\"\(top + 28)\" r=\"4\" fill=\"#e0742c\"/><text x=\"\(left + 20)\" y=\"\(top + 32)\" font-size=\"11\">B factors</text>"
        svg += "<text x=\"\(left + 12)\" y=\"\(top + 48)\" font-size=\"11\" fill=\"#666\">- - ε = ρ/√(1+ρ²)</text>"
        return svg + "</svg>"
    }

    /// Bars: input file, the adapter in fp16, and the `.lba` split into signs, scales and carried tensors.
    static func sizes(_ r: ConversionReport) -> String {
        let signs = r.modules.reduce(0) { $0 + ($1.signBits + 7) / 8 }
        let scales = r.modules.reduce(0) { $0 + $1.scaleBytes }
        let fp16 = r.modules.reduce(0) { $0 + $1.fp16Bytes } + r.carriedFP16Bytes
        let other = max(0, r.bytesOut - signs - scales - r.carriedBytes)
        let bars: [(String, [(Int, String, String)])] = [
            ("input file", [(r.bytesIn, "#9aa3b2", "input")]),
            ("fp16 adapter", [(fp16, "#c3c9d4", "fp16")]),
            (".lba", [(signs, "#2f6fd6", "sign bits"), (scales, "#e0742c", "scales"),
                      (r.carriedBytes, "#6bb36b", "carried tensors"), (other, "#b9b9b9", "table, padding")]),
        ]
        let maxBytes = max(1, bars.map { $0.1.reduce(0) { $0 + $1.0 } }.max() ?? 1)
        let w = 420, barWidth = 250, left = 90
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"170\" role=\"img\" aria-label=\"sizes\">"
        for (i, (label, parts)) in bars.enumerated() {
            let y = 10 + i * 34
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 16)\" font-size=\"11\" text-anchor=\"end\">\(label)</text>"
            var x = Double(left)
            for (bytes, fill, name) in parts where bytes > 0 {
                let width = max(1, Double(bytes) / Double(maxBytes) * Double(barWidth))
                svg += "<rect x=\"\(Format.fixed(x, 1))\" y=\"\(y)\" width=\"\(Format.fixed(width, 1))\" height=\"22\" fill=\"\(fill)\"><title>\(name): \(Format.bytes(bytes))</title></rect>"
                x += width
            }
            let total = parts.reduce(0) { $0 + $1.0 }
            svg += "<text x=\"\(Format.fixed(x + 4, 1))\" y=\"\(y + 16)\" font-size=\"11\">\(Format.bytes(total))</text>"
        }
        let legend: [(String, String)] = [("#2f6fd6", "signs"), ("#e0742c", "scales"), ("#6bb36b", "carried"), ("#b9b9b9", "table")]
        for (i, (fill, name)) in legend.enumerated() {
            svg += "<rect x=\"\(left + i * 66)\" y=\"118\" width=\"10\" height=\"10\" fill=\"\(fill)\"/><text x=\"\(left + i * 66 + 14)\" y=\"127\" font-size=\"11\">\(name)</text>"
        }
        return svg + "</svg>"
    }

    static func table(_ modules: [ConversionReport.Module]) -> String {
        var html = "<table><tr><th class=\"l\">module</th><th>in</th><th>out</th><th>r</th><th>ρ_A</th><th>ρ_B</th><th>ε_A</th><th>ε_B</th><th>error</th><th>bound</th><th>plain</th><th>cosine</th><th>bytes</th><th class=\"l\">method</th></tr>"
        for m in modules {
            let e = m.errors
            html += "<tr><td class=\"l\"><code>\(escape(m.name))</code></td><td>\(m.inFeatures)</td><td>\(m.outFeatures)</td><td>\(m.rank)</td>"
            html += "<td>\(Format.optional(e.rhoA))</td><td>\(Format.optional(e.rhoB))</td><td>\(Format.optional(e.errorA))</td><td>\(Format.optional(e.errorB))</td>"
            html += "<td style=\"background:\(colour(e.productError))33\">\(Format.fixed(e.productError, 3))</td><td>\(Format.optional(e.productErrorBound))</td>"
            html += "<td>\(Format.fixed(m.plainProductError, 3))</td><td>\(Format.fixed(e.cosine, 3))</td><td>\(m.bytes)</td><td class=\"l\">\(escape(m.method))</td></tr>"
        }
        return html + "</table>"
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
