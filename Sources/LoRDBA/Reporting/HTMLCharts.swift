/// The inline SVG charts of ``HTMLReport``: each has a `viewBox`, so it scales down to the
/// width of a phone, and `<title>` tooltips instead of scripts.
enum HTMLCharts {
    /// Layers down, module paths across (``ModuleGrid``: every module has its own cell), each
    /// cell coloured by product error over the adapter's own range (``ErrorScale``, shown on a
    /// titled colour bar, so a narrow spread is still visible); on mixed-rank adapters each cell
    /// also shows its binary rank.
    /// `index` (the report's place on the page) keeps the colour bar's gradient id unique.
    static func heatmap(_ r: ConversionReport, index: Int = 0) -> String {
        let grid = ModuleGrid(names: r.modules.map(\.name))
        let scale = ErrorScale(r.modules.map(\.errors.productError))
        let mixed = Set(r.modules.map(\.rank)).count > 1 || Set(r.modules.map(\.binaryRank)).count > 1
        let rowLabels = grid.rows.map { truncated($0.label, 28) }
        let columnLabels = grid.labels.map { truncated($0, 28) }
        let cell = max(14, min(34, 480 / max(grid.columns.count, 1)))
        let rowHeight = max(10, min(22, 520 / max(grid.rows.count, 1)))
        let longestColumn = Double(columnLabels.map(\.count).max() ?? 0) * 6.0 * 0.71   // rotated 45°
        let left = max(54, min(200, 8 + 6 * (rowLabels.map(\.count).max() ?? 0)))
        let top = max(40, Int(longestColumn) + 14)
        let gridWidth = cell * grid.columns.count, gridHeight = rowHeight * grid.rows.count
        let barHeight = max(100, min(gridHeight, 220))
        let lx = left + gridWidth + 24
        let width = max(lx + 62, left + Int(longestColumn) + gridWidth)
        let height = max(top + gridHeight, top + barHeight) + 12
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"heatmap of product error by layer and module\">"
        for (c, label) in columnLabels.enumerated() {
            let x = left + c * cell + cell / 2
            svg += "<text x=\"\(x)\" y=\"\(top - 6)\" font-size=\"11\" transform=\"rotate(-45 \(x) \(top - 6))\">\(HTMLReport.escape(label))<title>\(HTMLReport.escape(grid.columns[c]))</title></text>"
        }
        let everyRow = grid.rows.count <= 40
        for (row, label) in rowLabels.enumerated() where everyRow || row % 4 == 0 {
            let y = top + row * rowHeight
            svg += "<text x=\"\(left - 6)\" y=\"\(y + rowHeight / 2 + 4)\" font-size=\"10\" text-anchor=\"end\">\(HTMLReport.escape(label))<title>\(HTMLReport.escape(grid.rows[row].label))</title></text>"
        }
        for placed in grid.cells {
            let m = r.modules[placed.module]
            let e = m.errors.productError
            let x = left + placed.column * cell, y = top + placed.row * rowHeight
            svg += "<rect data-module=\"\(HTMLReport.escape(m.name))\" x=\"\(x)\" y=\"\(y)\" width=\"\(cell - 1)\" height=\"\(rowHeight - 1)\" fill=\"\(HTMLReport.colour(scale.position(e)))\">"
            svg += "<title>\(HTMLReport.escape(m.name)): product error \(Format.fixed(e, 3)) · r \(m.rank) · k \(m.binaryRank)</title></rect>"
            if mixed && rowHeight >= 12 && cell >= 18 {
                let size = min(10, rowHeight - 3)
                svg += "<text x=\"\(x + cell / 2)\" y=\"\(y + rowHeight / 2 + size / 2 - 1)\" font-size=\"\(size)\" text-anchor=\"middle\" fill=\"\(scale.position(e) > 0.55 ? "#1d2330" : "#ffffff")\" pointer-events=\"none\">\(m.binaryRank)</text>"
            }
        }
        // The colour bar: a gradient through the same stops as the cells, ticks, and a title.
        svg += "<defs><linearGradient id=\"errbar\(index)\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
        for i in 0...8 {
            let v = Double(i) / 8
            svg += "<stop offset=\"\(Format.fixed(v, 3))\" stop-color=\"\(HTMLReport.colour(v))\"/>"
        }
        svg += "</linearGradient></defs>"
        svg += "<rect x=\"\(lx)\" y=\"\(top)\" width=\"12\" height=\"\(barHeight)\" fill=\"url(#errbar\(index))\" stroke=\"#ccd\"/>"
        for i in 0...4 {
            let v = Double(i) / 4
            let y = Double(top) + (1 - v) * Double(barHeight)
            svg += "<line x1=\"\(lx + 12)\" x2=\"\(lx + 16)\" y1=\"\(Format.fixed(y, 1))\" y2=\"\(Format.fixed(y, 1))\" stroke=\"#666\"/>"
            svg += "<text x=\"\(lx + 18)\" y=\"\(Format.fixed(y + 3.5, 1))\" font-size=\"10\">\(Format.fixed(scale.value(at: v), scale.digits))</text>"
        }
        let titleX = lx + 52, titleY = top + barHeight / 2
        svg += "<text x=\"\(titleX)\" y=\"\(titleY)\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 \(titleX) \(titleY))\">product error</text>"
        svg += "</svg>"
        if mixed {
            svg += "<p class=\"caption\">The ranks differ between modules: each cell shows its binary rank k (hover for r and k).</p>"
        }
        return svg
    }

    /// `text`, or its last `limit - 1` characters after an ellipsis.
    static func truncated(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : "…" + String(text.suffix(limit - 1))
    }

    /// Every module as a point (plain error, stored error) beside the diagonal: how far the
    /// refinement and extra channels moved each module from plain LoRDBA. Points on the diagonal
    /// gained nothing; the highest points are the modules to give more sign channels
    /// (`--binary-rank`, `--target-error`) or bytes (`--size-ratio`).
    static func gains(_ r: ConversionReport) -> String {
        let w = 380, h = 280, left = 46, bottom = 36, top = 12, right = 12
        let points = r.modules.map { ($0.plainProductError, $0.errors.productError, $0.name, $0.binaryRank) }
        let values = points.flatMap { [$0.0, $0.1] }.filter(\.isFinite)
        let low = max(0, (values.min() ?? 0) - 0.02), high = max(low + 0.05, (values.max() ?? 1) + 0.02)
        func px(_ v: Double) -> Double { Double(left) + (v - low) / (high - low) * Double(w - left - right) }
        func py(_ v: Double) -> Double { Double(h - bottom) - (v - low) / (high - low) * Double(h - bottom - top) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" role=\"img\" aria-label=\"stored product error against plain product error per module\">"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w - left - right)\" height=\"\(h - top - bottom)\" fill=\"#fafbfc\" stroke=\"#ccd\"/>"
        for i in 0...4 {
            let v = low + (high - low) * Double(i) / 4
            svg += "<text x=\"\(left - 6)\" y=\"\(Format.fixed(py(v) + 4, 1))\" font-size=\"10\" text-anchor=\"end\">\(Format.fixed(v, 2))</text>"
            svg += "<text x=\"\(Format.fixed(px(v), 1))\" y=\"\(h - bottom + 14)\" font-size=\"10\" text-anchor=\"middle\">\(Format.fixed(v, 2))</text>"
        }
        svg += "<text x=\"\((w + left) / 2)\" y=\"\(h - 4)\" font-size=\"11\" text-anchor=\"middle\">plain LoRDBA product error</text>"
        svg += "<text x=\"12\" y=\"\((h - bottom + top) / 2)\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 \((h - bottom + top) / 2))\">stored product error</text>"
        svg += "<line x1=\"\(Format.fixed(px(low), 1))\" y1=\"\(Format.fixed(py(low), 1))\" x2=\"\(Format.fixed(px(high), 1))\" y2=\"\(Format.fixed(py(high), 1))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
        for (plain, stored, name, k) in points where plain.isFinite && stored.isFinite {
            svg += "<circle data-module=\"\(HTMLReport.escape(name))\" cx=\"\(Format.fixed(px(plain), 1))\" cy=\"\(Format.fixed(py(stored), 1))\" r=\"3\" fill=\"#2f6fd6\" fill-opacity=\"0.75\"><title>\(HTMLReport.escape(name)): stored \(Format.fixed(stored, 3)), plain \(Format.fixed(plain, 3)), k \(k)</title></circle>"
        }
        svg += "<text x=\"\(left + 12)\" y=\"\(top + 16)\" font-size=\"11\" fill=\"#666\">- - no gain over plain</text>"
        return svg + "</svg><p class=\"caption\">Each point is a module. The higher it sits, the more it needs sign channels or bytes; on the dashed line the refinement gained nothing.</p>"
    }

    /// The parts of the `.lba` as stored (after zstd where a section compresses): they add up
    /// to the file's size, the headline figure.
    struct StoredSizes: Equatable {
        var modules: Int
        var carried: Int
        /// Header, table, alignment padding.
        var other: Int
        /// Sign bits and scales of the modules before compression.
        var modulesRaw: Int
    }

    static func storedSizes(_ r: ConversionReport) -> StoredSizes {
        let modules = r.modules.reduce(0) { $0 + $1.bytes }
        let raw = r.modules.reduce(0) { $0 + ($1.signBits + 7) / 8 + $1.scaleBytes }
        return StoredSizes(modules: modules, carried: r.carriedBytes, other: max(0, r.bytesOut - modules - r.carriedBytes),
                           modulesRaw: raw)
    }

    /// Bars: input file, the adapter in fp16, and the `.lba` as stored, split into modules
    /// (signs and scales), carried tensors, and header, table and padding.
    static func sizes(_ r: ConversionReport) -> String {
        let fp16 = r.modules.reduce(0) { $0 + $1.fp16Bytes } + r.carriedFP16Bytes
        let stored = storedSizes(r)
        let bars: [(String, [(Int, String, String)], Int)] = [
            ("input file", [(r.bytesIn, "#9aa3b2", "input")], r.bytesIn),
            ("fp16 adapter", [(fp16, "#c3c9d4", "fp16")], fp16),
            (".lba file", [(stored.modules, "#2f6fd6", "modules (sign bits and scales, as stored)"),
                           (stored.carried, "#6bb36b", "carried tensors, as stored"),
                           (stored.other, "#b9b9b9", "header, table and padding")], r.bytesOut),
        ]
        let maxBytes = max(1, bars.map { $0.2 }.max() ?? 1)
        let w = 420, barWidth = 250, left = 90, h = 150
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" role=\"img\" aria-label=\"sizes as stored\">"
        for (i, (label, parts, total)) in bars.enumerated() {
            let y = 10 + i * 34
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 16)\" font-size=\"11\" text-anchor=\"end\">\(label)</text>"
            var x = Double(left)
            for (bytes, fill, name) in parts where bytes > 0 {
                let width = max(1, Double(bytes) / Double(maxBytes) * Double(barWidth))
                svg += "<rect x=\"\(Format.fixed(x, 1))\" y=\"\(y)\" width=\"\(Format.fixed(width, 1))\" height=\"22\" fill=\"\(fill)\"><title>\(name): \(Format.bytes(bytes)) (\(bytes) bytes)</title></rect>"
                x += width
            }
            svg += "<text x=\"\(Format.fixed(x + 4, 1))\" y=\"\(y + 16)\" font-size=\"11\" data-total=\"\(total)\">\(Format.bytes(total))</text>"
        }
        let legend: [(String, String)] = [("#2f6fd6", "modules"), ("#6bb36b", "carried"), ("#b9b9b9", "header, table")]
        for (i, (fill, name)) in legend.enumerated() {
            svg += "<rect x=\"\(left + i * 82)\" y=\"118\" width=\"10\" height=\"10\" fill=\"\(fill)\"/><text x=\"\(left + i * 82 + 14)\" y=\"127\" font-size=\"11\">\(name)</text>"
        }
        svg += "</svg>"
        svg += "<p class=\"caption\">Bytes as stored in the file (zstd where a section gets smaller): modules \(Format.bytes(stored.modules)) "
        svg += "(their sign bits and scales take \(Format.bytes(stored.modulesRaw)) before compression), carried tensors \(Format.bytes(stored.carried)), "
        svg += "header, table and padding \(Format.bytes(stored.other)); together the file's \(Format.bytes(r.bytesOut)).</p>"
        return svg
    }
}

/// The colour range of a heatmap: the adapter's own lowest to highest product error (widened to
/// at least 0.01), so that modules of one adapter stay distinguishable when their errors are close.
struct ErrorScale: Equatable {
    var low: Double
    var high: Double

    init(_ errors: [Double]) {
        let finite = errors.filter(\.isFinite)
        var low = finite.min() ?? 0, high = finite.max() ?? 1
        if high - low < 0.01 {
            let middle = (low + high) / 2
            (low, high) = (max(0, middle - 0.005), max(0, middle - 0.005) + 0.01)
        }
        self.low = low
        self.high = high
    }

    /// Where `value` falls in the range, 0 to 1.
    func position(_ value: Double) -> Double {
        guard value.isFinite else { return 1 }
        return min(max((value - low) / (high - low), 0), 1)
    }

    /// The error at position `t` (0 to 1) of the bar.
    func value(at t: Double) -> Double { low + (high - low) * t }

    /// Decimals the bar's ticks need to tell its five values apart.
    var digits: Int { high - low >= 0.2 ? 2 : 3 }
}
