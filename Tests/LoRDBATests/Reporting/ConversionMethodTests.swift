import Testing
@testable import LoRDBA

/// `ConversionMethod`'s text is the report's `method` field (a contract).
@Suite struct ConversionMethodTests {
    @Test func textNamesTheFactorizationAndTheStagesInOrder() {
        #expect(ConversionMethod.plain.description == "plain")
        #expect(ConversionMethod.refined(factorization: .balanced, binaryRank: 32, compact: true, scaleRefit: true,
                                         signSearch: true).description
                == "balanced · k=32 · compact · als · bcd")
        #expect(ConversionMethod.refined(factorization: .asIs, binaryRank: nil, compact: false, scaleRefit: false,
                                         signSearch: true).description == "as-is · bcd")
    }

    @Test func thePipelineReportsWhatRan() throws {
        let source = try AdapterSource.open(ReadingFixtures.sample("minilm-cls-r8"))
        let module = try source.load(source.modules[0])
        #expect(ModulePipeline(options: .plain).run(module).method == .plain)
        var options = PipelineOptions()
        options.binaryRank = .multiple(2)
        options.descentRounds = 0
        let outcome = ModulePipeline(options: options).run(module)
        guard case let .refined(_, binaryRank, compact, scaleRefit, signSearch) = outcome.method else {
            Issue.record("a 2x run is not plain")
            return
        }
        #expect(binaryRank == 2 * module.rank && !compact && scaleRefit && !signSearch)
    }
}
