/// `lordba-convert merge-reports`: puts the JSON reports of the N shards of a batch
/// (`--shard I/N`) back into the report one run over the whole batch would have written.
///
/// Every report must come from the same partition (same N, same batch size, same schema and
/// `max_error`); each shard must appear exactly once, every input position exactly once.
/// Inputs are put back in batch order; `exceeded` and `counts` are recomputed and `shard` is
/// null, so the result equals the single run's report apart from timings. Other run-level
/// members are taken from the first report.
public enum ReportMerge {
    /// Why the reports do not make one batch; one line naming the report(s).
    public enum MergeError: Error, CustomStringConvertible, Equatable {
        case unreadable(ReportReading.ReadError)
        /// The report has no `shard` record (not written with `--shard`).
        case notAShard(path: String)
        /// A member that must agree across shards does not.
        case mismatch(path: String, member: String, expected: String, found: String)
        /// Two reports claim the same shard.
        case duplicateShard(index: Int, first: String, second: String)
        /// Some shards' reports were not given.
        case missingShards([Int], of: Int)
        /// Two reports hold the same input (or the same batch position).
        case duplicateInput(input: String, first: String, second: String)
        /// A report's record is inconsistent with its inputs.
        case invalidRecord(path: String, reason: String)

        public var description: String {
            switch self {
            case .unreadable(let e): e.description
            case .notAShard(let path): "\(path): not a shard report (no \"shard\" record; write it with --shard I/N)"
            case .mismatch(let path, let member, let expected, let found):
                "\(path): \"\(member)\" is \(found), but the first report has \(expected); the reports are not from one batch"
            case .duplicateShard(let index, let first, let second): "\(first) and \(second) are both shard \(index)"
            case .missingShards(let missing, let count):
                "missing shard\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(count)" }.joined(separator: ", ")): give every shard's report"
            case .duplicateInput(let input, let first, let second): "\(input) is in both \(first) and \(second)"
            case .invalidRecord(let path, let reason): "\(path): \(reason)"
            }
        }
    }

    /// The merged document of `reports` (path and parsed document, in any order).
    public static func merge(_ reports: [(path: String, document: JSONValue)]) throws(MergeError) -> JSONValue {
        guard let first = reports.first else { throw .missingShards([], of: 0) }
        struct Shard { var path: String; var index: Int; var positions: [Int]; var inputs: [JSONValue]; var nonFinite: [String] }
        var shards: [Shard] = []
        var count = 0, total = 0
        for (n, (path, document)) in reports.enumerated() {
            guard let record = document["shard"], case .object = record else { throw .notAShard(path: path) }
            guard let index = record["index"]?.integerValue, let c = record["count"]?.integerValue,
                  let t = record["inputs_total"]?.integerValue, let positions = record["positions"]?.arrayValue?.compactMap(\.integerValue),
                  let inputs = document["inputs"]?.arrayValue,
                  c >= 1, c <= 10_000, index >= 1, index <= c, t >= 0, t <= 100_000_000 else {
                throw .invalidRecord(path: path, reason: "the \"shard\" record or \"inputs\" is malformed")
            }
            guard positions.count == inputs.count, positions.allSatisfy({ $0 >= 0 && $0 < t }) else {
                throw .invalidRecord(path: path, reason: "\(positions.count) positions in 0..<\(t) for \(inputs.count) inputs")
            }
            if n == 0 {
                (count, total) = (Int(c), Int(t))
            } else {
                for member in ["schema_version", "max_error"] where document[member] != first.document[member] {
                    throw .mismatch(path: path, member: member, expected: (first.document[member] ?? .null).serialized(),
                                    found: (document[member] ?? .null).serialized())
                }
                if Int(c) != count { throw .mismatch(path: path, member: "shard.count", expected: String(count), found: String(c)) }
                if Int(t) != total { throw .mismatch(path: path, member: "shard.inputs_total", expected: String(total), found: String(t)) }
            }
            if let other = shards.first(where: { $0.index == Int(index) }) {
                throw .duplicateShard(index: Int(index), first: other.path, second: path)
            }
            shards.append(Shard(path: path, index: Int(index), positions: positions.map(Int.init), inputs: inputs,
                                nonFinite: (document["non_finite"]?.arrayValue ?? []).compactMap(\.stringValue)))
        }
        let missing = (1...count).filter { i in !shards.contains { $0.index == i } }
        if !missing.isEmpty { throw .missingShards(missing, of: count) }

        // `inputs_total` is a claim: the shards' inputs must add up to it before it sizes anything.
        let held = shards.reduce(0) { $0 + $1.inputs.count }
        guard held == total else {
            throw .invalidRecord(path: first.path, reason: "the shard reports hold \(held) inputs, not inputs_total = \(total)")
        }
        var slots = [(input: JSONValue, shard: Int, local: Int)?](repeating: nil, count: total)
        var seenInputs: [String: String] = [:]
        for (s, shard) in shards.enumerated() {
            for (k, (position, input)) in zip(shard.positions, shard.inputs).enumerated() {
                let name = input["input"]?.stringValue ?? "inputs[\(k)]"
                if let other = seenInputs.updateValue(shard.path, forKey: name) {
                    throw .duplicateInput(input: name, first: other, second: shard.path)
                }
                if let taken = slots[position] {
                    throw .duplicateInput(input: name, first: shards[taken.shard].path, second: shard.path)
                }
                slots[position] = (input, s, k)
            }
        }
        if let hole = slots.firstIndex(where: { $0 == nil }) {
            throw .invalidRecord(path: first.path, reason: "no report holds input position \(hole) of \(total)")
        }
        let placed = slots.map { $0! }
        let inputs = placed.map(\.input)

        // Where each shard's input went, to carry its non-finite notes over.
        var newIndex: [Int: [Int: Int]] = [:]
        for (position, slot) in placed.enumerated() { newIndex[slot.shard, default: [:]][slot.local] = position }
        var nonFinite: [(Int, String)] = []
        for (s, shard) in shards.enumerated() {
            for path in shard.nonFinite where path.hasPrefix("inputs[") {
                guard let close = path.firstIndex(of: "]"), let local = Int(path[path.index(path.startIndex, offsetBy: 7)..<close]),
                      let position = newIndex[s]?[local] else { continue }
                nonFinite.append((position, "inputs[\(position)]" + path[close...].dropFirst()))
            }
        }
        let maxError = first.document["max_error"]?.doubleValue
        let exceeded = exceeded(inputs, maxError: maxError)
        var counts = RunCounts()
        for input in inputs {
            switch input["status"]?.stringValue {
            case "ok": counts.converted += 1
            case "skipped": counts.skipped += 1
            default: counts.failed += 1
            }
        }
        var members: [(String, JSONValue)] = []
        for (key, value) in first.document.objectValue ?? [] where key != "non_finite" {
            switch key {
            case "inputs": members.append((key, .array(inputs)))
            case "exceeded":
                members.append((key, .array(exceeded.map { e in
                    .object([("input", .string(e.input)), ("module", .string(e.module)), ("product_error", .double(e.productError))])
                })))
            case "counts": members.append((key, counts.json))
            case "shard": members.append((key, .null))
            default: members.append((key, value))
            }
        }
        for (key, value) in [("counts", counts.json), ("shard", JSONValue.null)] where !members.contains(where: { $0.0 == key }) {
            members.append((key, value))
        }
        let exceededNotes = JSONValue.object([("exceeded", members.first { $0.0 == "exceeded" }?.1 ?? .array([]))]).nonFinitePaths()
        let notes = nonFinite.sorted { $0.0 < $1.0 }.map(\.1) + exceededNotes
        if !notes.isEmpty { members.append(("non_finite", .array(notes.map(JSONValue.string)))) }
        return .object(members)
    }

    /// `document` gated at `maxError` instead of its recorded threshold (`merge-reports
    /// --max-error`): `max_error` and `exceeded` replaced, their `non_finite` notes updated.
    public static func gated(_ document: JSONValue, maxError: Double) -> JSONValue {
        guard case .object(let members) = document else { return document }
        let exceeded = exceeded(document["inputs"]?.arrayValue ?? [], maxError: maxError)
        let list = JSONValue.array(exceeded.map { e in
            .object([("input", .string(e.input)), ("module", .string(e.module)), ("product_error", .double(e.productError))])
        })
        var notes = (document["non_finite"]?.arrayValue ?? []).compactMap(\.stringValue).filter { !$0.hasPrefix("exceeded") }
        notes += JSONValue.object([("exceeded", list)]).nonFinitePaths()
        var rebuilt: [(String, JSONValue)] = members.filter { $0.0 != "non_finite" }.map { key, value in
            switch key {
            case "max_error": (key, .double(maxError))
            case "exceeded": (key, list)
            default: (key, value)
            }
        }
        if !notes.isEmpty { rebuilt.append(("non_finite", .array(notes.map(JSONValue.string)))) }
        return .object(rebuilt)
    }

    /// The modules of converted inputs above `maxError` (null, i.e. NaN, counts as above), in
    /// input and module order, as ``ReportJSON/exceeded(_:maxError:)`` computes them in a run.
    static func exceeded(_ inputs: [JSONValue], maxError: Double?) -> [ReportJSON.Exceeded] {
        guard let maxError else { return [] }
        var exceeded: [ReportJSON.Exceeded] = []
        for input in inputs where input["status"]?.stringValue == "ok" {
            let name = input["input"]?.stringValue ?? ""
            for module in input["modules"]?.arrayValue ?? [] {
                let error = module["product_error"]?.doubleValue ?? .nan
                if !(error <= maxError) {
                    exceeded.append(.init(input: name, module: module["name"]?.stringValue ?? "", productError: error))
                }
            }
        }
        return exceeded
    }
}
