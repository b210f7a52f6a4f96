import Testing
@testable import LoRDBA

@Suite struct LBAWriterValidationTests {
    func refuses(_ adapter: BinaryAdapter, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try LBAWriter().encode(adapter)
            Issue.record("writer accepted an invalid adapter", sourceLocation: sourceLocation)
        } catch {
            guard case .invalidAdapter = error else { Issue.record("\(error)", sourceLocation: sourceLocation); return }
            #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func refusesAdaptersTheReaderWouldReject() {
        let base = Fixtures.small()
        var duplicate = base
        duplicate.modules.append(base.modules[0])
        refuses(duplicate, "duplicate module name")

        var padding = base
        padding.modules[0].signA.words[0] |= 1 << 63
        refuses(padding, "padding")

        var nan = base
        nan.modules[0].loraScale = .nan
        refuses(nan, "not finite")

        var shortWords = base
        shortWords.modules[0].signB.words.removeLast()
        refuses(shortWords, "words for shape")

        var scales = base
        scales.modules[0].scales.output.append(1)
        refuses(scales, "output scales")

        var kernel = base
        kernel.modules[0].kind = .conv(kernel: [2, 2])
        refuses(kernel, "kernel")

        var carried = base
        carried.carried[0].shape = [65]
        refuses(carried, "expected 260")

        var carriedNames = base
        carriedNames.carried.append(base.carried[0])
        refuses(carriedNames, "duplicate carried tensor name")
    }
}
