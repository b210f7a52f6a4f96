#if canImport(Glibc)
import Glibc
#endif

/// Renderings of a ``ValidationResult``: the terminal table and the JSON document.
public enum ValidationReport {
    /// The per-module table, the totals, the speed table and the verdict, as printed by
    /// `lordba-validate`.
    public static func text(_ result: ValidationResult) -> String {
        let o = result.options
        var lines: [String] = []
        lines.append("\(result.path): \(result.modules.count) module\(result.modules.count == 1 ? "" : "s"), "
                     + "\(o.tokens) seeded Gaussian tokens (seed \(o.seed)), \(o.threads) thread\(o.threads == 1 ? "" : "s")"
                     + (o.referencePath.map { ", reference \($0)" } ?? ""))
        let hasReference = o.referencePath != nil
        var header = ["module", "in", "out", "r", "k", "kernel Δ f32", "kernel Δ f16"]
        if hasReference { header += ["fidelity", "product error", "ratio"] }
        let hasDoRA = result.modules.contains { $0.dora != nil }
        if hasDoRA { header.append("dora") }
        header.append("")
        let failing = failingNames(result.status)
        let rows: [[String]] = result.modules.map { m in
            var row = [m.name, String(m.inFeatures), String(m.outFeatures), String(m.rank), String(m.binaryRank),
                       Inspector.shortNumber(m.kernelDifference), Inspector.shortNumber(m.kernelDifferenceHalf)]
            if hasReference {
                row += [m.fidelity.map { Format.fixed($0, 4) } ?? "-", m.productError.map { Format.fixed($0, 4) } ?? "-",
                        ratio(m.fidelity, m.productError)]
            }
            if hasDoRA { row.append(m.dora.map { $0.normsApplied ? "layer" : "ΔW only" } ?? "") }
            row.append(failing.contains(m.name) ? "FAIL" : "")
            return row
        }
        lines.append(Format.alignedTable(header: header, rows: rows, leftColumns: [0, header.count - 1]))
        lines.append("")
        let judged = result.modules.filter { $0.overflow == nil }
        let judgedMax = judged.contains { $0.kernelDifferenceMax.isNaN } ? .nan : judged.map(\.kernelDifferenceMax).max() ?? 0
        let kernelOK = !(judgedMax > o.tolerance) && !judgedMax.isNaN
        if judged.isEmpty && !result.modules.isEmpty {
            lines.append("kernel    not judged: every module's check left the float32 range")
        } else {
            lines.append("kernel    largest relative difference from the dense reference \(Inspector.shortNumber(judgedMax)) "
                         + "(tolerance \(Inspector.shortNumber(o.tolerance))): \(kernelOK ? "ok" : "MISMATCH")"
                         + (judged.count < result.modules.count ? " on the \(judged.count) modules in float32 range" : ""))
        }
        for m in result.modules {
            if let overflow = m.overflow {
                lines.append("overflow  module \(LBAError.quote(m.name)): float32 overflow in the check, \(overflow); the kernel is not judged on these scales")
            }
        }
        if let overall = result.fidelityOverall {
            var line = "fidelity  ‖Y_lba − Y_lora‖/‖Y_lora‖ \(Format.fixed(overall, 4)) over all modules, median \(Format.fixed(result.fidelityMedian ?? 0, 4)), "
                + "max \(Format.fixed(result.fidelityMax ?? 0, 4)); report's product error median \(Format.fixed(result.productErrorMedian ?? 0, 4))"
            if let maxError = o.maxError {
                let exceeded = result.modules.filter { ($0.fidelity ?? 0) > maxError }.count
                line += "; --max-error \(Format.fixed(maxError, 4)): " + (exceeded == 0 ? "ok" : "\(exceeded) module\(exceeded == 1 ? "" : "s") above")
            }
            lines.append(line)
        } else {
            lines.append("fidelity  not measured (give --reference with the original LoRA)")
        }
        if let line = doraText(result) { lines.append(line) }
        if !result.timings.isEmpty {
            lines.append("")
            lines.append(speedText(result))
        }
        for s in result.untimedShapes {
            lines.append("untimed   \(s.inFeatures)→\(s.outFeatures) r\(s.rank) k\(s.binaryRank) (\(s.modules) module\(s.modules == 1 ? "" : "s")): "
                         + "timing it needs about \(Format.bytes(Int(Swift.min(s.bytes, 9e18)))), above the limit of \(Format.bytes(o.memoryLimit))")
        }
        lines.append("")
        lines.append(verdict(result.status))
        return lines.joined(separator: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in String(line.reversed().drop(while: { $0 == " " }).reversed()) }
            .joined(separator: "\n")
    }

    /// What was checked of the DoRA modules, or nil when there are none (or no reference).
    static func doraText(_ result: ValidationResult) -> String? {
        let dora = result.modules.compactMap(\.dora)
        guard !dora.isEmpty else { return nil }
        let count = "\(dora.count) DoRA module\(dora.count == 1 ? "" : "s")"
        let applied = dora.filter(\.normsApplied)
        var text = "dora      \(count): magnitudes identical to the reference's; "
        if applied.count == dora.count {
            let norm = applied.compactMap(\.normDifference).max() ?? 0
            text += "fidelity is of the whole DoRA layer's effect (g/‖W₀+ΔW‖)⊙(W₀x+ΔWx) − W₀x with the base weights, "
                + "largest row-norm difference \(Inspector.shortNumber(norm))"
        } else if applied.isEmpty {
            text += "without --base the norm rescaling g/‖W₀+ΔW‖ is not checked: their fidelity is of ΔW·x only"
        } else {
            text += "\(applied.count) checked as whole layers with the base weights, \(dora.count - applied.count) (embeddings) on ΔW·x only"
        }
        return text
    }

    /// The speed table and its totals.
    static func speedText(_ result: ValidationResult) -> String {
        let o = result.options
        var lines: [String] = []
        if let config = result.openBLAS {
            lines.append("speed     median of \(o.timingSamples) per point (sign, dense and base sampled in turn), \(o.threads) thread\(o.threads == 1 ? "" : "s"); dense branch and base GEMM through OpenBLAS (\(config))")
        } else {
            lines.append("speed     median of \(o.timingSamples) per point (sign and dense sampled in turn), \(o.threads) thread\(o.threads == 1 ? "" : "s"); "
                         + "dense branch = our Swift reference, no base GEMM (\(result.openBLASProblem ?? "OpenBLAS not loaded"))")
        }
        var rows: [[String]] = []
        for shape in result.timings {
            for p in shape.points {
                rows.append(["\(shape.inFeatures)→\(shape.outFeatures) r\(shape.rank) k\(shape.binaryRank)", String(shape.modules),
                             String(p.tokens), micro(p.signSeconds), micro(p.denseSeconds),
                             Format.fixed(p.signOverDense, 2) + "×", p.baseSeconds.map(micro) ?? "-",
                             p.overhead.map { Format.fixed(100 * $0, 2) + " %" } ?? "-"])
            }
        }
        for p in result.timingTotals {
            rows.append(["all modules", String(result.modules.count), String(p.tokens), micro(p.signSeconds),
                         micro(p.denseSeconds), Format.fixed(p.signOverDense, 2) + "×", p.baseSeconds.map(micro) ?? "-",
                         p.overhead.map { Format.fixed(100 * $0, 2) + " %" } ?? "-"])
        }
        lines.append(Format.alignedTable(
            header: ["shape", "modules", "T", "sign µs", "dense µs", "sign/dense", "base µs", "overhead"],
            rows: rows, leftColumns: [0]))
        return lines.joined(separator: "\n")
    }

    /// One line: what passed or failed, with the failing modules named.
    public static func verdict(_ status: ValidationStatus) -> String {
        switch status {
        case .passed:
            return "status    ok"
        case .kernelMismatch(let modules):
            return "status    KERNEL MISMATCH (exit 1) in \(modules.count) module\(modules.count == 1 ? "" : "s"): " + names(modules)
        case .fidelityExceeded(let modules):
            return "status    FIDELITY ABOVE --max-error (exit 3) in \(modules.count) module\(modules.count == 1 ? "" : "s"): " + names(modules)
        case .floatOverflow(let modules):
            return "status    FLOAT32 OVERFLOW, kernel not judged (exit 4) in \(modules.count) module\(modules.count == 1 ? "" : "s"): " + names(modules)
        }
    }

    /// The JSON document written by `--json`. Members (in this order):
    ///
    /// * `tool` (`"lordba-validate"`), `tool_version`, `file`, `reference` (path or null), `base` (path or null);
    /// * `options`: `tokens`, `seed`, `threads`, `tolerance`, `max_error` (or null);
    /// * `status` (`"passed"`, `"kernel_mismatch"`, `"fidelity_exceeded"`, `"float_overflow"`),
    ///   `exit_code` (0, 1, 3, 4),
    ///   `failing_modules` (names);
    /// * `totals`: `modules`, `kernel_difference_max`, `fidelity` (adapter-wide, or null),
    ///   `fidelity_median`, `fidelity_max`, `product_error_median` (null without a reference);
    /// * `modules`: per module `name`, `kind`, `in`, `out`, `rank`, `binary_rank`,
    ///   `kernel_difference`, `kernel_difference_f16`, `kernel_ok`, `fidelity`, `product_error`,
    ///   `fidelity_ok` (null when not measured or no `max_error`), and `dora`: null, or for a
    ///   DoRA module checked against a reference `magnitude` (tensor name), `norms_applied`
    ///   (whether `fidelity` is of the whole DoRA layer, with `base`), `delta_fidelity` (of
    ///   `ΔW·x` alone) and `norm_difference` (or null); `overflow`: null, or what left the
    ///   Float32 range in a module whose kernel check failed (its `kernel_ok` is then null: not judged);
    /// * `speed`: null when timing was off, else `openblas` (config or null), `openblas_problem`,
    ///   `shapes` (per shape `in`, `out`, `rank`, `binary_rank`, `modules`, `points`, `dense_rank`:
    ///   the rank the dense branch was timed at, `rank` at most `min(in, out)`), `untimed_shapes`
    ///   (per shape `in`, `out`, `rank`, `binary_rank`, `modules`, `bytes`: shapes whose timing
    ///   would exceed the memory limit) and
    ///   `totals` (the whole adapter), where each point has `tokens`, `sign_seconds`,
    ///   `dense_seconds`, `dense_backend`, `base_seconds` (or null), `sign_over_dense`, `overhead`
    ///   (or null).
    public static func json(_ result: ValidationResult) -> JSONValue {
        let o = result.options
        func number(_ v: Double?) -> JSONValue {
            guard let v, v.isFinite else { return .null }
            return .double(v)
        }
        let modules: [JSONValue] = result.modules.map { m in
            .object([
                ("name", .string(m.name)), ("kind", .string(m.kind.name)),
                ("in", .integer(Int64(m.inFeatures))), ("out", .integer(Int64(m.outFeatures))),
                ("rank", .integer(Int64(m.rank))), ("binary_rank", .integer(Int64(m.binaryRank))),
                ("kernel_difference", number(m.kernelDifference)), ("kernel_difference_f16", number(m.kernelDifferenceHalf)),
                ("kernel_ok", m.overflow == nil ? .bool(m.kernelDifferenceMax <= o.tolerance) : .null),
                ("fidelity", number(m.fidelity)), ("product_error", number(m.productError)),
                ("fidelity_ok", o.maxError.flatMap { limit in m.fidelity.map { JSONValue.bool($0 <= limit) } } ?? .null),
                ("dora", m.dora.map { d in
                    JSONValue.object([
                        ("magnitude", .string(d.magnitude)), ("norms_applied", .bool(d.normsApplied)),
                        ("delta_fidelity", number(d.deltaFidelity)), ("norm_difference", number(d.normDifference)),
                    ])
                } ?? .null),
                ("overflow", m.overflow.map(JSONValue.string) ?? .null),
            ])
        }
        func point(_ p: TimingPoint) -> JSONValue {
            .object([
                ("tokens", .integer(Int64(p.tokens))), ("sign_seconds", number(p.signSeconds)),
                ("dense_seconds", number(p.denseSeconds)), ("dense_backend", .string(p.denseBackend)),
                ("base_seconds", number(p.baseSeconds)), ("sign_over_dense", number(p.signOverDense)),
                ("overhead", number(p.overhead)),
            ])
        }
        let speed: JSONValue = result.timings.isEmpty && result.untimedShapes.isEmpty ? .null : .object([
            ("openblas", result.openBLAS.map(JSONValue.string) ?? .null),
            ("openblas_problem", result.openBLASProblem.map(JSONValue.string) ?? .null),
            ("shapes", .array(result.timings.map { s in
                .object([
                    ("in", .integer(Int64(s.inFeatures))), ("out", .integer(Int64(s.outFeatures))),
                    ("rank", .integer(Int64(s.rank))), ("binary_rank", .integer(Int64(s.binaryRank))),
                    ("modules", .integer(Int64(s.modules))), ("points", .array(s.points.map(point))),
                    ("dense_rank", .integer(Int64(s.denseRank))),
                ])
            })),
            ("untimed_shapes", .array(result.untimedShapes.map { s in
                .object([
                    ("in", .integer(Int64(s.inFeatures))), ("out", .integer(Int64(s.outFeatures))),
                    ("rank", .integer(Int64(s.rank))), ("binary_rank", .integer(Int64(s.binaryRank))),
                    ("modules", .integer(Int64(s.modules))), ("bytes", number(s.bytes)),
                ])
            })),
            ("totals", .array(result.timingTotals.map(point))),
        ])
        return .object([
            ("tool", .string("lordba-validate")),
            ("tool_version", .string(ToolVersion.current)),
            ("file", .string(result.path)),
            ("reference", o.referencePath.map(JSONValue.string) ?? .null),
            ("base", o.basePath.map(JSONValue.string) ?? .null),
            ("options", .object([
                ("tokens", .integer(Int64(o.tokens))), ("seed", .integer(Int64(bitPattern: o.seed))),
                ("threads", .integer(Int64(o.threads))), ("tolerance", number(o.tolerance)),
                ("max_error", number(o.maxError)),
            ])),
            ("status", .string(result.status.name)),
            ("exit_code", .integer(Int64(result.status.exitCode))),
            ("failing_modules", .array(failingNames(result.status).map(JSONValue.string))),
            ("totals", .object([
                ("modules", .integer(Int64(result.modules.count))),
                ("kernel_difference_max", number(result.kernelDifferenceMax)),
                ("fidelity", number(result.fidelityOverall)),
                ("fidelity_median", number(result.fidelityMedian)),
                ("fidelity_max", number(result.fidelityMax)),
                ("product_error_median", number(result.productErrorMedian)),
            ])),
            ("modules", .array(modules)),
            ("speed", speed),
        ])
    }

    static func failingNames(_ status: ValidationStatus) -> [String] {
        switch status {
        case .passed: []
        case .kernelMismatch(let names), .fidelityExceeded(let names), .floatOverflow(let names): names
        }
    }

    private static func names(_ modules: [String]) -> String {
        let shown = modules.prefix(10).joined(separator: ", ")
        return modules.count > 10 ? shown + ", … (\(modules.count - 10) more)" : shown
    }

    private static func ratio(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b, b > 0 else { return "-" }
        return Format.fixed(a / b, 3)
    }

    private static func micro(_ seconds: Double) -> String {
        Format.fixed(seconds * 1e6, seconds < 1e-4 ? 1 : 0)
    }
}

extension ValidationReport {
    /// Writes the JSON results to `path` atomically (`-`: returns the text for standard output
    /// instead). Refuses to write over any of `inputs` (the `.lba`, the reference and its
    /// folder's files) or over anything that is not a regular file.
    /// - Returns: the text when `path` is `-`, else `nil`.
    ///
    /// An existing file at `path` is replaced only with `overwrite` (and only a regular file).
    public static func writeJSON(_ result: ValidationResult, to path: String, inputs: [String],
                                 overwrite: Bool = false) throws(FileError) -> String? {
        let text = json(result).serialized(indent: 2) + "\n"
        if path == "-" { return text }
        if let identity = FileIdentity(path: path),
           let (_, input) = inputs.flatMap({ FileIdentity.ofInput($0, siblings: [AdapterSource.standardConfigName]) }).first(where: { $0.0 == identity }) {
            throw FileError(path: path, operation: .writeOverInput(input), errno: EEXIST)
        }
        try AtomicFile.write(Array(text.utf8), to: path, overwrite: overwrite)
        return nil
    }
}
