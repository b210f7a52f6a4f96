import Foundation
import Testing
@testable import LoRDBA

@Suite struct ByteBudgetTests {
    /// A PEFT adapter of six modules of mixed shapes and ranks (r = 4 or 8), trained-looking
    /// factors (Gaussian A, column norms decaying across the rank in B); returns its folder.
    static func adapter(in dir: TempDir) -> String {
        var tensors: [ReadingFixtures.Tensor] = []
        let shapes = [(192, 160, 4), (192, 384, 8), (384, 192, 8), (160, 160, 4), (256, 256, 8), (256, 128, 4)]
        for (i, (inF, outF, r)) in shapes.enumerated() {
            var rng = SeededGenerator(seed: UInt64(100 + i))
            let a = (0..<(r * inF)).map { _ in rng.nextGaussian() * 0.1 }
            let b = (0..<(outF * r)).map { j in rng.nextGaussian() * 0.05 / Float(1 + j % r) }
            tensors.append(ReadingFixtures.tensor("base_model.model.layers.\(i).proj.lora_A.weight", [r, inF], a))
            tensors.append(ReadingFixtures.tensor("base_model.model.layers.\(i).proj.lora_B.weight", [outF, r], b))
        }
        dir.writeTensors("adapter_model.safetensors", tensors)
        dir.write("adapter_config.json", text: #"{"r": 8, "lora_alpha": 16, "rank_pattern": {"layers.0.proj": 4, "layers.3.proj": 4, "layers.5.proj": 4}}"#)
        return dir.path
    }

    static func objective(_ report: ConversionReport) -> Double {
        report.modules.reduce(0) { $0 + $1.errors.productError * $1.errors.productError }
    }

    @Test func lowerHullKeepsOnlyOptionsThatPayForTheirBytes() {
        typealias O = BudgetAllocator.Option
        let options = [O(binaryRank: 1, bytes: 100, objective: 1.0), O(binaryRank: 2, bytes: 200, objective: 0.5),
                       O(binaryRank: 3, bytes: 300, objective: 0.45),   // above the segment from 2 to 4
                       O(binaryRank: 4, bytes: 400, objective: 0.2), O(binaryRank: 5, bytes: 500, objective: 0.3)]  // worse for more bytes
        #expect(BudgetAllocator.lowerHull(options).map(\.index) == [0, 1, 3])
    }

    /// On random convex trade-offs the allocation fits the limit, is never worse than any
    /// uniform choice that fits, and is within one option step of the exhaustive optimum.
    @Test func allocationFitsAndBeatsEveryUniformChoice() {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<200 {
            let modules = 2 + Int(rng.next() % 3)
            let options: [[BudgetAllocator.Option]] = (0..<modules).map { _ in
                var bytes = 10 + Int(rng.next() % 20), objective = 1.0 + Double(rng.nextUnitFloat())
                return (1...4).map { k in
                    defer {
                        bytes += 10 + Int(rng.next() % 30)
                        objective *= 0.3 + 0.5 * Double(rng.nextUnitFloat())
                    }
                    return BudgetAllocator.Option(binaryRank: k, bytes: bytes, objective: objective)
                }
            }
            let limit = options.reduce(0) { $0 + $1[0].bytes } + Int(rng.next() % 150)
            let uniform = (0..<4).map { [Int](repeating: $0, count: modules) }
            let chosen = try! #require(BudgetAllocator.allocate(options, limit: limit, references: uniform))
            let bytes = zip(options, chosen).reduce(0) { $0 + $1.0[$1.1].bytes }
            let objective = zip(options, chosen).reduce(0.0) { $0 + $1.0[$1.1].objective }
            #expect(bytes <= limit)
            for u in 0..<4 where options.reduce(0, { $0 + $1[u].bytes }) <= limit {
                #expect(objective <= options.reduce(0.0) { $0 + $1[u].objective } + 1e-12)
            }
            // Exhaustive optimum over all 4^modules assignments.
            var best = Double.infinity
            for code in 0..<(1 << (2 * modules)) {
                let pick = (0..<modules).map { (code >> (2 * $0)) & 3 }
                if zip(options, pick).reduce(0, { $0 + $1.0[$1.1].bytes }) <= limit {
                    best = min(best, zip(options, pick).reduce(0.0) { $0 + $1.0[$1.1].objective })
                }
            }
            let largestStep = options.map { $0[0].objective - $0[3].objective }.max()!
            #expect(objective <= best + largestStep)
        }
        #expect(BudgetAllocator.allocate([[.init(binaryRank: 1, bytes: 50, objective: 1)]], limit: 49) == nil)
    }

    /// At the bytes of the uniform default file, the allocation's summed squared relative error is
    /// no higher than uniform's (uniform is one of the allocations it could choose); the file fits,
    /// round-trips, and the report names each module's chosen binary rank.
    @Test(.tags(.slow), .slowNumeric) func budgetAtUniformBytesIsNoWorseThanUniform() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir)
        let uniform = try Converter().convert(input: input, output: dir.path + "/uniform.lba")
        var options = ConversionOptions()
        options.budget = .bytes(uniform.bytesOut)
        let budgeted = try Converter(options: options).convert(input: input, output: dir.path + "/budget.lba")
        #expect(budgeted.bytesOut <= uniform.bytesOut)
        #expect(Self.objective(budgeted) <= Self.objective(uniform) + 1e-9)
        let file = try LBAFile(path: dir.path + "/budget.lba")
        #expect(file.fileSize == budgeted.bytesOut)
        #expect(file.adapter.modules.map(\.binaryRank) == budgeted.modules.map(\.binaryRank))
        #expect(budgeted.notes.contains { $0.hasPrefix("budget \(uniform.bytesOut) bytes:") })

        // A size ratio (a little beyond the default's): the file is at least that many times smaller than fp16.
        let target = 1.2 * uniform.summary.ratioVsFP16
        var ratio = ConversionOptions()
        ratio.budget = .sizeRatio(target)
        let smaller = try Converter(options: ratio).convert(input: input, output: dir.path + "/ratio.lba")
        #expect(smaller.summary.ratioVsFP16 >= target)
        // Absolute objective: a valid file too, within the same limit.
        ratio.budgetObjective = .absolute
        let absolute = try Converter(options: ratio).convert(input: input, output: dir.path + "/abs.lba")
        #expect(absolute.summary.ratioVsFP16 >= target)

        // Below the smallest file: one error naming the input, nothing written.
        var tiny = ConversionOptions()
        tiny.budget = .bytes(200)
        let error = caught { () throws(ConversionError) in
            try Converter(options: tiny).convert(input: input, output: dir.path + "/tiny.lba")
        }
        #expect(error?.description.hasPrefix("\(input): the byte budget (200 bytes)") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/tiny.lba"))
    }

    /// A budget lands: within 3 % of the limit when more sign channels can spend it (beyond 3r
    /// too), else the note names the largest file the options allow.
    @Test(.tags(.slow), .slowNumeric) func budgetsLandWithinThreePercentOrSayWhyNot() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir)
        var options = ConversionOptions()
        options.pipeline.descentRounds = 0
        options.pipeline.refitSweeps = 1
        for ratio in [2.5, 4.0, 6.0] {
            options.budget = .sizeRatio(ratio)
            let report = try Converter(options: options).convert(input: input, output: dir.path + "/r\(ratio).lba")
            let fp16 = report.modules.reduce(0) { $0 + $1.fp16Bytes } + report.carriedFP16Bytes
            let limit = (Double(fp16) / ratio).rounded(.down)
            #expect(Double(report.bytesOut) <= limit && Double(report.bytesOut) >= 0.97 * limit,
                    "size ratio \(ratio): \(report.bytesOut) bytes for a limit of \(limit)")
        }
        // 2.5× is beyond what 3r gives these modules: some module must have gone past 3r.
        options.budget = .sizeRatio(2.5)
        let wide = try Converter(options: options).convert(input: input, output: dir.path + "/w.lba")
        #expect(wide.modules.contains { $0.binaryRank > 3 * $0.rank })
        // Beyond even 8r: the note says so.
        options.budget = .sizeRatio(1.01)
        let beyond = try Converter(options: options).convert(input: input, output: dir.path + "/b.lba")
        #expect(beyond.notes.contains { $0.contains("the largest file these options allow is ") })
        #expect(BudgetAllocator.candidateRanks(rank: 8, quarters: BudgetAllocator.extendedQuarters) == [32, 48, 64])
    }

    /// `--binary-rank N` below r stores N channels (the top balanced directions), through the file.
    @Test func binaryRankBelowTheLoRARankIsStored() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let input = Self.adapter(in: dir)
        var options = ConversionOptions()
        options.pipeline.binaryRank = .fixed(2)
        let report = try Converter(options: options).convert(input: input, output: dir.path + "/k2.lba")
        #expect(report.modules.allSatisfy { $0.binaryRank == 2 })
        #expect(report.modules.allSatisfy { $0.method.contains("k=2") })
        let file = try LBAFile(path: dir.path + "/k2.lba")
        #expect(file.adapter.modules.allSatisfy { $0.binaryRank == 2 && $0.loraRank >= 4 })
        let full = try Converter().convert(input: input, output: dir.path + "/k.lba")
        for (low, high) in zip(report.modules, full.modules) {
            #expect(low.errors.productError < 1)
            #expect(low.errors.productError >= high.errors.productError - 1e-6)
            #expect(low.bytes < high.bytes)
        }
    }

    @Test func plainWithAFidelityFlagIsAUsageError() throws {
        let convert = Tool(name: "lordba-convert")
        for flags in [["--bcd-rounds", "2"], ["--size-ratio", "8"], ["--binary-rank", "2x"], ["--factorization", "balanced"]] {
            let result = try convert.run(["samples/minilm-cls-r8", "/tmp/never-written.lba", "--plain"] + flags)
            #expect(result.status == 64, "\(flags): \(result.stderr)")
            #expect(result.stderr.contains("--plain") && result.stderr.contains(flags[0]))
        }
        let both = try convert.run(["samples/minilm-cls-r8", "/tmp/never-written.lba", "--size-ratio", "8", "--budget", "1000"])
        #expect(both.status == 64)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never-written.lba"))
    }
}
