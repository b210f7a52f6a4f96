/// Where each module of a report sits in a grid of blocks (rows) × module paths (columns), the
/// layout of the HTML heatmap; the terminal table groups its rows the same way.
///
/// A module is keyed by its full name: the row is its layer (`… .layers.3. …` → layer 3), the
/// column is the module path below the layer index (`attention.output.dense`, `output.dense` and
/// `intermediate.dense` are three columns, not one `dense`). Names without a layer index are
/// split at their last numeric component (`unet.down_blocks.1.attentions.0.…` → row
/// `unet.down_blocks.1.attentions.0`), or go to one row `other` keyed by the whole name. Every
/// module gets a cell of its own.
public struct ModuleGrid: Sendable {
    /// One row: a layer, or a block of a name without a layer index.
    public struct Row: Sendable, Equatable {
        public var label: String
        /// The layer index, when the row is a layer.
        public var layer: Int?
    }

    /// One placed module: indices into ``rows``, ``columns`` and the report's modules.
    public struct Cell: Sendable, Equatable {
        public var row: Int
        public var column: Int
        public var module: Int
    }

    public var rows: [Row]
    /// Full module paths below the row, in transformer order (attention before MLP).
    public var columns: [String]
    /// Column headers: the shortest suffix of each path that no other column shares.
    public var labels: [String]
    public var cells: [Cell]

    /// The grid for module names in report order.
    public init(names: [String]) {
        var rowKeys: [(key: RowKey, label: String, layer: Int?)] = []
        var columnKeys: [String] = []
        var placed: [(row: Int, column: Int)] = []
        var taken = Set<String>()
        for name in names {
            var (rowKey, label, layer, column) = Self.split(name)
            if taken.contains("\(rowKey)\u{0}\(column)") {
                // Two names map to one cell (unusual names): the whole name keeps them apart.
                column = name
            }
            taken.insert("\(rowKey)\u{0}\(column)")
            let r = rowKeys.firstIndex { $0.key == rowKey } ?? {
                rowKeys.append((rowKey, label, layer))
                return rowKeys.count - 1
            }()
            let c = columnKeys.firstIndex(of: column) ?? {
                columnKeys.append(column)
                return columnKeys.count - 1
            }()
            placed.append((r, c))
        }
        let rowOrder = rowKeys.indices.sorted { rowKeys[$0].key < rowKeys[$1].key }
        let columnOrder = columnKeys.indices.sorted {
            (Self.typeRank(columnKeys[$0]), $0) < (Self.typeRank(columnKeys[$1]), $1)
        }
        var rowIndex = [Int](repeating: 0, count: rowKeys.count)
        for (new, old) in rowOrder.enumerated() { rowIndex[old] = new }
        var columnIndex = [Int](repeating: 0, count: columnKeys.count)
        for (new, old) in columnOrder.enumerated() { columnIndex[old] = new }
        rows = rowOrder.map { Row(label: rowKeys[$0].label, layer: rowKeys[$0].layer) }
        columns = columnOrder.map { columnKeys[$0] }
        labels = Self.shortestUniqueSuffixes(columns)
        cells = placed.enumerated().map { Cell(row: rowIndex[$0.element.row], column: columnIndex[$0.element.column], module: $0.offset) }
    }

    /// Sort key of a row: layers by index, then other blocks by name, then `other`.
    struct RowKey: Comparable, Hashable, CustomStringConvertible {
        var group: Int
        var layer: Int
        var name: String
        static func < (l: RowKey, r: RowKey) -> Bool { (l.group, l.layer, l.name) < (r.group, r.layer, r.name) }
        var description: String { "\(group).\(layer).\(name)" }
    }

    /// The row and column of one name.
    static func split(_ name: String) -> (RowKey, String, Int?, String) {
        let parsed = ModuleName(name)
        if let layer = parsed.layer {
            return (RowKey(group: 0, layer: layer, name: ""), "layer \(layer)", layer, ModuleName.pathBelowLayer(name))
        }
        let separator: Character = name.contains(".") ? "." : "_"
        let parts = name.split(separator: separator, omittingEmptySubsequences: false)
        if let last = parts.lastIndex(where: { Int($0) != nil }), last + 1 < parts.count, last > 0 {
            let block = parts[...last].joined(separator: String(separator))
            return (RowKey(group: 1, layer: 0, name: block), block, nil, parts[(last + 1)...].joined(separator: String(separator)))
        }
        return (RowKey(group: 2, layer: 0, name: ""), "other", nil, name)
    }

    /// Attention before MLP, in the order a transformer block runs them; anything else after.
    static let typeOrder = ["q_proj", "query", "to_q", "k_proj", "key", "to_k", "v_proj", "value", "to_v", "o_proj", "dense",
                            "to_out", "gate_proj", "up_proj", "down_proj", "fc1", "fc2"]

    static func typeRank(_ column: String) -> Int {
        typeOrder.firstIndex { t in
            column == t || column.hasSuffix("." + t) || column.hasSuffix("_" + t) || column.hasSuffix("." + t + ".0")
        } ?? typeOrder.count
    }

    /// For each path, its shortest dotted suffix that no other path has as a suffix of the same length.
    static func shortestUniqueSuffixes(_ paths: [String]) -> [String] {
        let split = paths.map { $0.split(separator: ".").map(String.init) }
        return split.indices.map { i in
            let parts = split[i]
            for n in 1...max(parts.count, 1) where n <= parts.count {
                let suffix = parts.suffix(n)
                let clash = split.indices.contains { j in j != i && split[j].count >= n && split[j].suffix(n) == suffix }
                if !clash { return suffix.joined(separator: ".") }
            }
            return paths[i]
        }
    }
}
