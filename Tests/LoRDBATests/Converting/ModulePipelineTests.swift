import Testing
@testable import LoRDBA

@Suite struct ModulePipelineTests {
    static func samples() throws -> [LoRAModule] {
        var out: [LoRAModule] = []
        for sample in ["minilm-cls-r8", "tiny-llama-lora-f16"] {
            let source = try AdapterSource.open(ReadingFixtures.sample(sample))
            for (i, spec) in source.modules.enumerated() where i % 4 == 0 { out.append(try source.load(spec)) }
        }
        return out
    }

    @Test(.tags(.slow), .slowNumeric) func defaultIsNeverWorseThanPlainAndMoreChannelsHelp() throws {
        let defaults = PipelineOptions()
        var doubled = defaults
        doubled.binaryRank = .multiple(2)
        for module in try Self.samples() {
            let d = ModulePipeline(options: defaults).run(module)
            #expect(d.errors.productError <= d.plainProductError + 1e-9, "\(module.name)")
            let k2 = ModulePipeline(options: doubled).run(module)
            #expect(k2.module.binaryRank == 2 * module.rank)
            #expect(k2.errors.productError < d.errors.productError, "\(module.name): 2r \(k2.errors.productError) vs r \(d.errors.productError)")
            // The bound reported for refined modules still bounds them.
            #expect(d.errors.productErrorBound.map { $0 >= d.errors.productError } ?? true)
        }
    }

    @Test func targetErrorPicksTheSmallestSufficientRank() throws {
        let module = try Self.samples()[0]
        var options = PipelineOptions()
        let k1 = ModulePipeline(options: options).run(module).errors.productError
        options.targetError = k1 * 0.8
        let outcome = ModulePipeline(options: options).run(module)
        #expect(outcome.module.binaryRank > module.rank)
        #expect(outcome.module.binaryRank <= 4 * module.rank)
        options.targetError = 2
        #expect(ModulePipeline(options: options).run(module).module.binaryRank == module.rank)
    }

    @Test func compactScalesDropTheInputScale() throws {
        let module = try Self.samples()[1]
        var options = PipelineOptions()
        options.compactScales = true
        let outcome = ModulePipeline(options: options).run(module)
        #expect(outcome.module.scales.input == nil)
        #expect(outcome.errors.productError < 1)
    }

    @Test func calibrationWeightsLowerTheWeightedError() throws {
        let module = try Self.samples()[0]
        var rng = SeededGenerator(seed: 8)
        // A few input channels carry most of the activation energy.
        let d = (0..<module.inFeatures).map { i in i % 16 == 0 ? 50 + rng.nextUnitFloat() : 0.01 * rng.nextUnitFloat() }
        let options = PipelineOptions()
        let weighted = ModulePipeline(options: options).run(module, inputSquareMean: d).module
        let unweighted = ModulePipeline(options: options).run(module).module
        let target = RefinementTarget(module, inputSquareMean: d)
        func weightedError(_ b: BinaryModule) -> Double {
            (RefinementState(b, target: target).objective(target) / target.normSquared).squareRoot()
        }
        #expect(weightedError(weighted) < weightedError(unweighted))
    }

    /// Threads inside a module (its sides side by side, the search's columns and Gram products
    /// split) give exactly the module and figures of one thread; the module is large enough that
    /// every split kernel does split.
    @Test func threadsInsideAModuleChangeNothing() {
        var rng = SeededGenerator(seed: 21)
        let module = LoRAModule(name: "m", a: rng.gaussianMatrix(rows: 32, cols: 300, scale: 0.02),
                                b: rng.gaussianMatrix(rows: 4100, cols: 32, scale: 0.01), scale: 1,
                                source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
        #expect(32 * 32 * 4100 >= SmallLinearAlgebra.parallelWork)
        let one = ModulePipeline(options: PipelineOptions(), threads: 1).run(module)
        let three = ModulePipeline(options: PipelineOptions(), threads: 3).run(module)
        #expect(one.module.signA == three.module.signA && one.module.signB == three.module.signB)
        #expect(one.module.scales == three.module.scales)
        #expect(one.errors == three.errors)
        #expect(one.method == three.method)
    }
}
