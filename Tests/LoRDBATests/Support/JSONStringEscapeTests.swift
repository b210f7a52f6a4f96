import Testing
@testable import LoRDBA

/// Strings with nothing to escape are copied in one piece; the rest are escaped per scalar.
@Suite struct JSONStringEscapeTests {
    @Test func escapesExactlyWhatJSONNeeds() {
        let cases: [(String, String)] = [
            ("base_model.model.layers.0.q_proj", #""base_model.model.layers.0.q_proj""#),
            ("", #""""#),
            ("größe ∑ 😀 \u{2028}", "\"größe ∑ 😀 \u{2028}\""),
            ("say \"hi\"", #""say \"hi\"""#),
            ("back\\slash", #""back\\slash""#),
            ("tab\tline\nret\r\u{08}\u{0C}", #""tab\tline\nret\r\b\f""#),
            ("\u{01}\u{1F} \u{7F}", "\"\\u0001\\u001f \u{7F}\""),
        ]
        for (value, expected) in cases {
            #expect(JSONValue.string(value).serialized() == expected)
            // And it parses back to the same string.
            #expect((try? JSONParser.parse(expected)) == .string(value))
        }
    }
}
