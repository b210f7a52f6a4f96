import Testing
@testable import LoRDBA

@Suite(.timeLimit(.minutes(1))) struct BoundedRegexTests {
    @Test func matchesWholeSubjectsLikePEFTKeys() throws {
        let regex = try BoundedRegex(#"(.*\.)?(layers\.[0-3]\.mlp\..*)"#)
        #expect(try regex.wholeMatch("model.layers.2.mlp.up_proj"))
        #expect(try !regex.wholeMatch("model.layers.5.mlp.up_proj"))
        #expect(try BoundedRegex("é.").wholeMatch("éü"))   // code points, not bytes
        #expect(throws: BoundedRegex.Failure.self) { try BoundedRegex("(unclosed") }
    }

    @Test func catastrophicBacktrackingHitsTheLimitQuickly() throws {
        let clock = ContinuousClock()
        // The issue's patterns: no match or the limit, either way at once.
        for pattern in ["(a+)+$", "(.*)*x"] {
            let start = clock.now
            let regex = try BoundedRegex("(.*\\.)?(\(pattern))")
            do {
                #expect(try !regex.wholeMatch("model." + String(repeating: "a", count: 40) + "b"))
            } catch {
                #expect(error == .limitExceeded)
            }
            #expect(clock.now - start < .milliseconds(500))
        }
        // One no optimisation avoids (the required `y` is there): exponential without the limit.
        let start = clock.now
        #expect(throws: BoundedRegex.Failure.limitExceeded) {
            try BoundedRegex("(.*\\.)?((x+x+)+y)").wholeMatch("model." + String(repeating: "x", count: 40) + "yz")
        }
        #expect(clock.now - start < .milliseconds(500))
    }
}
