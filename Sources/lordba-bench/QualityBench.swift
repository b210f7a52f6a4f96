import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// The size/error trade-off: every method on every sample and on the generated 7B-shaped adapter.
struct QualityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Median and worst product error, bytes and seconds of each conversion method, per adapter.")

    @Option(help: "Adapters to measure (default: every folder in samples/).", completion: .file())
    var adapters: [String] = []

    @Option(help: "Folder for outputs and the generated 7B-shaped adapter.", completion: .directory)
    var workDir = "/tmp/lordba-bench"

    @Flag(name: .customLong("skip-7b"), help: "Leave out the generated 7B-shaped adapter (it takes a few minutes).")
    var skip7B = false

    @Option(help: "Worker threads.")
    var jobs = ProcessInfoCores.count

    /// The methods compared, as conversion options.
    static var methods: [(String, ConversionOptions)] {
        func with(_ change: (inout ConversionOptions) -> Void) -> ConversionOptions {
            var options = ConversionOptions()
            change(&options)
            return options
        }
        return [
            ("plain", with { $0.pipeline = .plain }),
            ("auto + refit (no search)", with { $0.pipeline.descentRounds = 0 }),
            ("default (auto + refit + bcd \(SignDescent.defaultRounds))", ConversionOptions()),
            ("default, f16 scales", with { $0.pipeline.scaleDType = .f16 }),
            ("default, k = 2r", with { $0.pipeline.binaryRank = .multiple(2) }),
            ("default, k = 3r", with { $0.pipeline.binaryRank = .multiple(3) }),
            ("default, compact scales", with { $0.pipeline.compactScales = true }),
            ("--size-ratio 8", with { $0.budget = .sizeRatio(8) }),
            ("--size-ratio 6", with { $0.budget = .sizeRatio(6) }),
            ("--size-ratio 4", with { $0.budget = .sizeRatio(4) }),
        ]
    }

    func run() throws {
        mkdir(workDir, 0o755)   // an existing folder is fine
        var inputs = adapters
        if inputs.isEmpty {
            inputs = ["samples/minilm-cls-r8", "samples/tiny-llama-lora-f16"]
        }
        if !skip7B {
            let dir = "\(workDir)/llama7b-r16"
            if access(dir + "/adapter_model.safetensors", R_OK) != 0 {
                print("generating \(dir) …")
                try SyntheticAdapter.llama7B().write(to: dir)
            }
            inputs.append(dir)
        }
        for input in inputs {
            print("\n\(input)")
            var rows: [[String]] = []
            var plainMedian = 0.0
            for (name, method) in Self.methods {
                var options = method
                options.overwrite = true
                options.threads = jobs
                let report: ConversionReport
                do {
                    report = try Converter(options: options).convert(input: input, output: "\(workDir)/quality.lba")
                } catch .budgetTooSmall(_, let limit, let smallest) {
                    rows.append([name, "-", "-", "below the smallest file (\(smallest) > \(limit) bytes)", "", "", ""])
                    continue
                }
                let s = report.summary
                if name == "plain" { plainMedian = s.productErrorMedian }
                let change = plainMedian > 0 ? (s.productErrorMedian / plainMedian - 1) * 100 : 0
                rows.append([name, Format.fixed(s.productErrorMedian, 3), Format.fixed(s.productErrorMax, 3),
                             name == "plain" ? "" : (change <= 0 ? "" : "+") + Format.fixed(change, 1) + " %",
                             String(s.bytesOut), Format.ratio(s.ratioVsFP16), Format.fixed(report.seconds, 2)])
            }
            print(Format.alignedTable(header: ["method", "median", "worst", "median vs plain", "bytes", "vs fp16", "seconds"],
                                         rows: rows, leftColumns: [0]))
        }
    }
}
