/// The overview that opens a report page: failed inputs first (with their reasons), then the
/// `--max-error` gate and the modules above it, then one row per converted input, worst first.
/// A page for a single input that passed gets no overview (its section says everything).
enum HTMLOverview {
    static func section(_ reports: [ConversionReport], failures: [(input: String, reason: String)], maxError: Double?) -> String {
        let exceeded = maxError.map { gate in
            reports.flatMap { r in r.modules.filter { $0.errors.productError > gate }.map { (r.input, $0) } }
        } ?? []
        guard reports.count + failures.count > 1 || !failures.isEmpty || maxError != nil else { return "" }
        var html = "<section><h2>Overview</h2>"
        if !failures.isEmpty {
            html += "<h3>Failed inputs</h3><ul>"
            for f in failures { html += "<li><code>\(HTMLReport.escape(f.input))</code>: \(HTMLReport.escape(f.reason))</li>" }
            html += "</ul>"
        }
        if let maxError {
            html += "<h3>Gate: product error at most \(Format.fixed(maxError, 3))</h3>"
            if exceeded.isEmpty {
                html += "<p class=\"sub\">Every module passes.</p>"
            } else {
                html += "<div class=\"note\">\(exceeded.count) module\(exceeded.count == 1 ? "" : "s") above the gate (exit status 3):</div><ul>"
                for (input, module) in exceeded.sorted(by: { $0.1.errors.productError > $1.1.errors.productError }).prefix(20) {
                    html += "<li><code>\(HTMLReport.escape(input))</code> · <code>\(HTMLReport.escape(module.name))</code> \(Format.fixed(module.errors.productError, 3))</li>"
                }
                html += "</ul>"
            }
        }
        if !reports.isEmpty {
            html += "<h3>Inputs, worst first</h3><div class=\"scroll\"><table class=\"rows\"><tr><th class=\"l\">input</th><th>modules</th>"
            html += "<th>size</th><th>vs fp16</th><th>median error</th><th>worst error</th>\(maxError == nil ? "" : "<th>above gate</th>")</tr>"
            for r in reports.sorted(by: { $0.summary.productErrorMax > $1.summary.productErrorMax }) {
                let s = r.summary
                let above = maxError.map { gate in r.modules.filter { $0.errors.productError > gate }.count }
                html += "<tr><td class=\"l\" data-label=\"input\"><code>\(HTMLReport.escape(r.input))</code></td>"
                html += "<td data-label=\"modules\">\(s.modules)</td><td data-label=\"size\">\(Format.bytes(s.bytesOut))</td>"
                html += "<td data-label=\"vs fp16\">\(Format.ratio(s.ratioVsFP16))</td>"
                html += "<td data-label=\"median error\">\(Format.fixed(s.productErrorMedian, 3))</td>"
                html += "<td data-label=\"worst error\">\(Format.fixed(s.productErrorMax, 3))</td>"
                if let above { html += "<td data-label=\"above gate\">\(above)</td>" }
                html += "</tr>"
            }
            html += "</table></div>"
        }
        return html + "</section>"
    }
}
