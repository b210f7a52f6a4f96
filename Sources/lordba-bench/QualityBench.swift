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

    @Option(help: "Adapters to measure (default: every folder in samples/).")
    var adapters: [String] = []

    @Option(help: "Folder for outputs and the generated 7B-shaped adapter.")
    var workDir = "/tmp/lordba-bench"

    @Flag(name: .customLong("skip-7b"), help: "Leave out the generated 7B-shaped adapter (it takes a few minutes).")
    var skip7B = false

    @Option(help: "Worker threads.")
    var jobs = ProcessInfoCores.count

    /// The methods compared, as pipeline options.
    static var methods: [(String, PipelineOptions)] {
        var list: [(String, PipelineOptions)] = [("plain", .plain)]
        var refit = PipelineOptions()
        refit.descentRounds = 0
        list.append(("auto + refit", refit))
        list.append(("default (auto + refit + bcd \(SignDescent.defaultRounds))", PipelineOptions()))
        var ste = PipelineOptions()
        ste.refineSteps = 24
        list.append(("default + ste 24", ste))
        for n in [2, 3] {
            var o = PipelineOptions()
            o.binaryRank = .multiple(n)
            list.append(("default, k = \(n)r", o))
        }
        var e4m3 = PipelineOptions()
        e4m3.scaleDType = .e4m3
        list.append(("default, e4m3 scales", e4m3))
        var compact = PipelineOptions()
        compact.compactScales = true
        list.append(("default, compact scales", compact))
        return list
    }

    func run() throws {
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
            for (name, pipeline) in Self.methods {
                var options = ConversionOptions()
                options.pipeline = pipeline
                options.overwrite = true
                options.threads = jobs
                let report = try Converter(options: options).convert(input: input, output: "\(workDir)/quality.lba")
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
