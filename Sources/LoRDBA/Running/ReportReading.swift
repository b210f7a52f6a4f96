/// Reads a `--report-json` document back into run outcomes, so `merge-reports` can draw the HTML
/// page and the Markdown summary of reports written by other jobs.
///
/// Figures the JSON does not hold are recovered where they are implied (the carried tensors' fp16
/// bytes from `ratio_vs_fp16`) or left at zero (a module's product norm, which no page shows).
public enum ReportReading {
    /// Why a document could not be read; `path` names the report.
    public struct ReadError: Error, CustomStringConvertible, Equatable {
        public var path: String
        public var reason: String

        public var description: String { "\(path): \(reason)" }
    }

    /// Parses the report file at `path` (at most `limit` bytes).
    public static func document(path: String, limit: Int = 1 << 30) throws(ReadError) -> JSONValue {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch { throw ReadError(path: path, reason: "cannot read: \(error)") }
        return try file.withBytes { (bytes) throws(ReadError) -> JSONValue in
            guard bytes.count <= limit else { throw ReadError(path: path, reason: "larger than \(limit) bytes") }
            do { return try JSONParser.parse(bytes) } catch { throw ReadError(path: path, reason: "\(error)") }
        }
    }

    /// The outcome of every input of `document`, in order.
    public static func outcomes(_ document: JSONValue, path: String) throws(ReadError) -> [RunOutcome] {
        guard let inputs = document["inputs"]?.arrayValue else { throw ReadError(path: path, reason: "no \"inputs\" array") }
        var outcomes: [RunOutcome] = []
        for (n, item) in inputs.enumerated() {
            func bad(_ what: String) -> ReadError { ReadError(path: path, reason: "inputs[\(n)]: \(what)") }
            guard let input = item["input"]?.stringValue, let output = item["output"]?.stringValue,
                  let status = item["status"]?.stringValue else { throw bad("input, output or status missing") }
            switch status {
            case "ok": outcomes.append(.converted(try report(item, bad: bad)))
            case "skipped": outcomes.append(.skipped(input: input, output: output, reason: item["reason"]?.stringValue ?? "up to date"))
            case "failed": outcomes.append(.failed(input: input, output: output, reason: item["error"]?.stringValue ?? "failed"))
            default: throw bad("unknown status \"\(status)\"")
            }
        }
        return outcomes
    }

    /// The modules above `max_error` as the document lists them in `exceeded`.
    public static func exceeded(_ document: JSONValue) -> [ReportJSON.Exceeded] {
        (document["exceeded"]?.arrayValue ?? []).compactMap { e in
            guard let input = e["input"]?.stringValue, let module = e["module"]?.stringValue else { return nil }
            return ReportJSON.Exceeded(input: input, module: module, productError: e["product_error"]?.doubleValue ?? .nan)
        }
    }

    /// One converted input's report.
    static func report(_ item: JSONValue, bad: (String) -> ReadError) throws(ReadError) -> ConversionReport {
        guard let summary = item["summary"], let moduleItems = item["modules"]?.arrayValue,
              let layout = item["layout"]?.stringValue.flatMap(AdapterLayout.init(rawValue:)) else {
            throw bad("summary, modules or layout missing")
        }
        var modules: [ConversionReport.Module] = []
        for (k, m) in moduleItems.enumerated() {
            guard let module = self.module(m) else { throw bad("modules[\(k)] is incomplete") }
            modules.append(module)
        }
        func int(_ v: JSONValue?) -> Int { v?.integerValue.map { Int(clamping: $0) } ?? 0 }
        let bytesOut = int(summary["bytes_out"])
        let fp16Total = (summary["ratio_vs_fp16"]?.doubleValue ?? 0) * Double(bytesOut)
        let moduleFP16 = modules.reduce(0) { $0 + $1.fp16Bytes }
        let carriedFP16 = fp16Total.isFinite && fp16Total < 9e15 ? Swift.max(0, Int(fp16Total.rounded()) - moduleFP16) : 0
        return ConversionReport(
            input: item["input"]?.stringValue ?? "", weightsPath: item["weights"]?.stringValue ?? "",
            output: item["output"]?.stringValue ?? "", layout: layout, modules: modules,
            carriedTensors: int(summary["carried_tensors"]), carriedBytes: int(summary["carried_bytes"]),
            carriedFP16Bytes: carriedFP16, bytesIn: int(summary["bytes_in"]), bytesOut: bytesOut,
            notes: (item["notes"]?.arrayValue ?? []).compactMap(\.stringValue),
            seconds: summary["seconds"]?.doubleValue ?? 0)
    }

    /// One module object (null numbers, written for NaN, read back as NaN).
    static func module(_ m: JSONValue) -> ConversionReport.Module? {
        func int(_ key: String) -> Int? { m[key]?.integerValue.map { Int(clamping: $0) } }
        func number(_ key: String) -> Double { m[key]?.doubleValue ?? .nan }
        func optional(_ key: String) -> Double? { m[key]?.doubleValue }
        guard let name = m["name"]?.stringValue, let kindName = m["kind"]?.stringValue,
              let inFeatures = int("in"), let outFeatures = int("out"), let rank = int("rank"),
              let binaryRank = int("binary_rank") else { return nil }
        let kind: ModuleKind
        switch kindName {
        case "linear": kind = .linear
        case "embedding": kind = .embedding
        case "conv": kind = .conv(kernel: (m["kernel"]?.arrayValue ?? []).compactMap { $0.integerValue.map { Int(clamping: $0) } })
        default: return nil
        }
        let errors = ModuleErrors(
            rhoA: optional("rho_a"), rhoB: optional("rho_b"), errorA: optional("error_a"), errorB: optional("error_b"),
            productError: number("product_error"), productErrorBound: optional("product_error_bound"),
            cosine: number("cosine"), productNorm: 0, identityApplies: m["identity_applies"]?.boolValue ?? false)
        var module = ConversionReport.Module(
            name: name, kind: kind, inFeatures: inFeatures, outFeatures: outFeatures, rank: rank, binaryRank: binaryRank,
            scale: number("scale"), errors: errors, bytes: int("bytes") ?? 0, signBits: int("sign_bits") ?? 0,
            scaleBytes: int("scale_bytes") ?? 0, plainProductError: number("plain_product_error"),
            method: m["method"]?.stringValue ?? "")
        if let c = m["compare"] {
            module.baselines = BaselineErrors(
                svdRank: c["svd_rank"]?.integerValue.map { Int(clamping: $0) } ?? 0,
                svdBytes: c["svd_bytes"]?.integerValue.map { Int(clamping: $0) } ?? 0,
                svdTruncation: c["svd_truncation"]?.doubleValue ?? .nan, signPerFactor: c["sign_per_factor"]?.doubleValue ?? .nan,
                signPerRow: c["sign_per_row"]?.doubleValue ?? .nan, twoBitRowwise: c["two_bit_rowwise"]?.doubleValue ?? .nan,
                twoBitBytes: c["two_bit_bytes"]?.integerValue.map { Int(clamping: $0) } ?? 0)
        }
        return module
    }
}
