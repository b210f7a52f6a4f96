import Foundation
import Synchronization
import Testing
@testable import LoRDBA

/// The Markdown summary, GitHub annotations, the gate's stderr lines and the progress line,
/// against golden text.
@Suite struct CISummaryTests {
    func module(_ name: String, _ error: Double) -> ConversionReport.Module {
        let errors = ModuleErrors(rhoA: nil, rhoB: nil, errorA: nil, errorB: nil, productError: error,
                                  productErrorBound: nil, cosine: 1 - error, productNorm: 1, identityApplies: false)
        return .init(name: name, kind: .linear, inFeatures: 16, outFeatures: 8, rank: 2, binaryRank: 2, scale: 1,
                     errors: errors, bytes: 10, signBits: 48, scaleBytes: 4, plainProductError: error, method: "plain")
    }

    /// One converted input (three modules), one skipped, one failed with awkward characters.
    var outcomes: [RunOutcome] {
        let report = ConversionReport(
            input: "adapters/a", weightsPath: "adapters/a/adapter_model.safetensors", output: "lba/a.lba", layout: .peft,
            modules: [module("m1", 0.25), module("m2", 0.5), module("m3", 0.125)], carriedTensors: 0, carriedBytes: 0,
            carriedFP16Bytes: 0, bytesIn: 1000, bytesOut: 100, notes: [], seconds: 1)
        return [.converted(report), .skipped(input: "adapters/b", output: "lba/b.lba", reason: "up to date"),
                .failed(input: "adapters/c|x", output: "lba/c.lba", reason: "adapters/c|x: bad,\nthing 100%")]
    }

    @Test func markdownSummaryIsGolden() {
        let entries = outcomes.compactMap(\.entry)
        let exceeded = ReportJSON.exceeded(entries, maxError: 0.3)
        let golden = """
            ## lordba-convert: 1 converted, 1 skipped, 1 failed

            | input | status | modules | ratio vs fp16 | median error | worst error |
            |---|---|--:|--:|--:|--:|
            | `adapters/a` | ok | 3 | 2.9× | 0.250 | 0.500 |
            | `adapters/b` | skipped: up to date | – | – | – | – |
            | `adapters/c\\|x` | **failed**: adapters/c\\|x: bad, thing 100% | – | – | – | – |

            ### Worst modules

            | input | module | product error |
            |---|---|--:|
            | `adapters/a` | `m2` | 0.500 |
            | `adapters/a` | `m1` | 0.250 |
            | `adapters/a` | `m3` | 0.125 |

            ### Gate

            `--max-error 0.3`: **1 module above it** in 1 input (exit 3).

            **1 input failed** (exit 1).

            """
        #expect(CISummary.markdown(outcomes, maxError: 0.3, exceeded: exceeded) == golden)
        let passed = CISummary.markdown([outcomes[0]], maxError: 0.6, exceeded: [],
                                        shard: ShardRecord(shard: Shard(index: 2, count: 4)!, inputsTotal: 9, positions: [3]))
        #expect(passed.hasPrefix("## lordba-convert: 1 converted, 0 skipped, 0 failed (shard 2/4 of a 9-input batch)\n"))
        #expect(passed.hasSuffix("### Gate\n\n`--max-error 0.6`: passed, every converted module is within it.\n"))
    }

    @Test func annotationsAreGolden() {
        let exceeded = ReportJSON.exceeded(outcomes.compactMap(\.entry), maxError: 0.3)
        #expect(CISummary.annotations(outcomes, maxError: 0.3, exceeded: exceeded) == [
            "::error file=adapters/c|x,title=lordba-convert%3A conversion failed::adapters/c|x: bad,%0Athing 100%25",
            "::warning file=adapters/a,title=lordba-convert%3A product error above --max-error 0.3::m2 (0.500)",
        ])
        #expect(CISummary.annotations(outcomes, maxError: nil, exceeded: []).count == 1)
    }

    @Test func gateListsTenModulesPerInputWorstFirstAndCountsTheRest() {
        let exceeded = (0..<13).map { ReportJSON.Exceeded(input: "a", module: "m\($0)", productError: 0.5 + Double($0) / 100) }
            + [ReportJSON.Exceeded(input: "b", module: "x", productError: .nan)]
        let lines = CISummary.gateMessages(exceeded, maxError: 0.5)
        #expect(lines == [
            "product error above --max-error 0.5 in a (13 modules): m12 (0.620), m11 (0.610), m10 (0.600), m9 (0.590), "
                + "m8 (0.580), m7 (0.570), m6 (0.560), m5 (0.550), m4 (0.540), m3 (0.530), … and 3 more (all in --report-json)",
            "product error above --max-error 0.5 in b (1 module): x (nan)",
        ])
    }

    @Test func progressLineIsGolden() {
        let running = ProgressSnapshot(inputsDone: 2, inputsTotal: 5, modulesDone: 84, bytesDone: 3_100_000,
                                       bytesTotal: 7_750_000, elapsed: 1)
        #expect(running.line == "inputs 2/5 · 84 modules · 3.1 MB/s · ETA 0:02")
        let slow = ProgressSnapshot(inputsDone: 0, inputsTotal: 1, modulesDone: 1, bytesDone: 500_000, bytesTotal: 600_000, elapsed: 1)
        #expect(slow.line == "inputs 0/1 · 1 module · 500 kB/s · ETA 0:00")
        let start = ProgressSnapshot(inputsDone: 0, inputsTotal: 3, modulesDone: 0, bytesDone: 0, bytesTotal: 10, elapsed: 0)
        #expect(start.line == "inputs 0/3 · 0 modules · ETA –")
        let done = ProgressSnapshot(inputsDone: 3, inputsTotal: 3, modulesDone: 90, bytesDone: 45e6, bytesTotal: 45e6, elapsed: 3725)
        #expect(done.line == "inputs 3/3 · 90 modules · 12 kB/s · done in 1:02:05")
    }

    @Test func progressModeFollowsTheTerminalAndQuiet() {
        #expect(ProgressMode.auto.isEnabled(standardErrorIsTerminal: true, quiet: false))
        #expect(!ProgressMode.auto.isEnabled(standardErrorIsTerminal: false, quiet: false))
        #expect(!ProgressMode.auto.isEnabled(standardErrorIsTerminal: true, quiet: true))
        #expect(ProgressMode.always.isEnabled(standardErrorIsTerminal: false, quiet: false))
        #expect(!ProgressMode.always.isEnabled(standardErrorIsTerminal: true, quiet: true))
        #expect(!ProgressMode.never.isEnabled(standardErrorIsTerminal: true, quiet: false))
        #expect(ProgressMode.allCases.map(\.rawValue) == ["auto", "always", "never"])
    }

    @Test func meterRedrawsOneLineAndErasesItAtTheEnd() {
        let drawn = Mutex<[String]>([])
        let meter = ProgressMeter(inputBytes: [100, 300], interval: .zero) { text in drawn.withLock { $0.append(text) } }
        meter.moduleFinished(job: 1, done: 1, total: 3)
        meter.inputFinished(job: 0)
        #expect(meter.snapshot().inputsDone == 1)
        #expect(meter.snapshot().modulesDone == 1)
        #expect(meter.snapshot().bytesDone == 200)
        let skipping = ProgressMeter(inputBytes: [100, 300], interval: .zero) { _ in }
        skipping.inputSkipped(job: 1)
        #expect(skipping.snapshot().bytesTotal == 100 && skipping.snapshot().inputsDone == 1)
        meter.finish()
        let lines = drawn.withLock { $0 }
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.hasPrefix("\r\u{1B}[K") && !$0.contains("\n") })
        #expect(lines[1].hasPrefix("\r\u{1B}[Kinputs 1/2 · 1 module"))
        #expect(lines[2] == "\r\u{1B}[K")
    }
}
