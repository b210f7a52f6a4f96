#if canImport(Glibc)
import Glibc
#endif

import LoRDBA

/// Per-stage CPU time of one conversion, measured in-process on one thread: every library stage
/// the converter runs per module is called in turn over all modules, each timed with the
/// thread's CPU clock (so other work on the machine does not inflate it).
struct StageTiming {
    /// Stage names and CPU seconds, in pipeline order.
    var stages: [(name: String, seconds: Double)]
    var total: Double { stages.reduce(0) { $0 + $1.seconds } }

    /// CPU seconds the calling thread has used.
    static func threadCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Times `body`, adding its CPU seconds to `sum`.
    @inline(__always)
    static func timed<T>(_ sum: inout Double, _ body: () throws -> T) rethrows -> T {
        let start = threadCPU()
        defer { sum += threadCPU() - start }
        return try body()
    }

    /// Runs the stages of `lordba-convert` (`--plain` when `options` is plain) on `adapterDir`,
    /// writing the `.lba` to `output`.
    static func measure(adapterDir: String, output: String, options: PipelineOptions) throws -> StageTiming {
        let isPlain = options.isPlain
        var read = 0.0, factorize = 0.0, binarize = 0.0, analyze = 0.0, pipelineTotal = 0.0
        var encode = 0.0, write = 0.0, report = 0.0
        let source = try timed(&read) { try AdapterSource.open(adapterDir) }
        let pipeline = ModulePipeline(options: options)
        var outcomes: [(module: BinaryModule, errors: ModuleErrors, plainProductError: Double, method: ConversionMethod)] = []
        for spec in source.modules {
            let module = try timed(&read) { try source.load(spec) }
            let plain = timed(&binarize) { Binarizer(scaleDType: options.scaleDType).binarize(module) }
            let errors = timed(&analyze) { ErrorAnalysis.analyze(original: module, binary: plain.module, fits: (plain.fitA, plain.fitB)) }
            if isPlain {
                outcomes.append((plain.module, errors, errors.productError, .plain))
            } else {
                // The factorizations the pipeline tries, then the whole pipeline (which repeats
                // them, binarizes and analyzes twice, and refines): refinement is the rest.
                let candidates = options.factorization == .auto ? Factorization.candidates : [options.factorization]
                timed(&factorize) { for f in candidates { _ = Factorizer.apply(f, to: LowRankProduct(module), seed: options.seed) } }
                let outcome = timed(&pipelineTotal) { pipeline.run(module) }
                outcomes.append((outcome.module, outcome.errors, outcome.plainProductError, outcome.method))
            }
        }
        let modules = outcomes.map(\.module)
        // The same conversion record the converter writes (tool version, input SHA-256, options),
        // so the in-process file can be compared byte for byte with the converter's.
        var conversion = ConversionOptions()
        conversion.pipeline = options
        let recorded = ConversionMetadata.entries(source: source, options: conversion,
                                                  inputSHA256: try SHA256.hex(ofFile: source.weightsPath), calibrationSHA256: nil)
        let metadata = source.metadata.merging(recorded) { _, recorded in recorded }
        let adapter = BinaryAdapter(layout: source.layout, modules: modules, carried: source.carried.map { source.loadCarried($0) },
                                    metadata: metadata, scaleDType: options.scaleDType)
        let encoded = try timed(&encode) { try LBAWriter().encode(adapter) }
        try timed(&write) { try AtomicFile.write(encoded.bytes, to: output, overwrite: true) }
        timed(&report) {
            let reports = modules.indices.map { i in
                let m = modules[i]
                return ConversionReport.Module(
                    name: m.name, kind: m.kind, inFeatures: m.inFeatures, outFeatures: m.outFeatures,
                    rank: m.loraRank, binaryRank: m.binaryRank, scale: m.loraScale, errors: outcomes[i].errors,
                    bytes: encoded.moduleBytes[i], signBits: m.binaryRank * (m.inFeatures + m.outFeatures),
                    scaleBytes: ((m.scales.input?.count ?? 0) + m.outFeatures) * options.scaleDType.byteWidth + m.binaryRank * 4,
                    plainProductError: outcomes[i].plainProductError, method: outcomes[i].method.description)
            }
            let conversion = ConversionReport(
                input: adapterDir, weightsPath: source.weightsPath, output: output, layout: source.layout,
                modules: reports, carriedTensors: 0, carriedBytes: 0, carriedFP16Bytes: 0,
                bytesIn: source.inputBytes, bytesOut: encoded.bytes.count, notes: source.notes, seconds: 0)
            _ = TerminalReport(colour: false).summary(conversion)
            _ = ReportJSON.document([.converted(conversion)], maxError: nil).serialized(indent: 2)
        }
        if isPlain {
            return StageTiming(stages: [("read/decode", read), ("binarize", binarize), ("analyze", analyze),
                                        ("encode/compress", encode), ("write", write), ("report format", report)])
        }
        // The pipeline analyzes twice (plain floor and stored module) and binarizes at least twice.
        let refine = Swift.max(0, pipelineTotal - factorize - 2 * binarize - 2 * analyze)
        return StageTiming(stages: [("read/decode", read), ("factorize", factorize), ("binarize", 2 * binarize),
                                    ("refit + sign search", refine), ("analyze", 2 * analyze),
                                    ("encode/compress", encode), ("write", write), ("report format", report)])
    }

    /// The table, with each stage's share; the report share is analyze + report format.
    func printed(title: String) -> String {
        var lines = ["\(title): CPU per stage, one thread, in-process"]
        for (name, seconds) in stages {
            lines.append("  \(name.padding(20)) \(Format.fixed(seconds * 1000, 1).leftPadding(8)) ms  \(Format.fixed(100 * seconds / total, 1).leftPadding(5)) %")
        }
        let reportShare = stages.filter { $0.name == "analyze" || $0.name == "report format" }.reduce(0) { $0 + $1.seconds } / total
        lines.append("  \("total".padding(20)) \(Format.fixed(total * 1000, 1).leftPadding(8)) ms  report (analyze + format) \(Format.fixed(100 * reportShare, 1)) % (target ≤ 10 %)")
        return lines.joined(separator: "\n")
    }
}
