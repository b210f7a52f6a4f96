import Testing
@testable import LoRDBA

@Suite struct JSONTests {
    @Test func parsesNestedDocumentInOrder() throws {
        let v = try JSONParser.parse(#" {"b": [1, 2.5, "x"], "a": {"k": null, "t": true}} "#)
        #expect(v.objectValue?.map(\.0) == ["b", "a"])
        #expect(v["b"] == .array([.integer(1), .double(2.5), .string("x")]))
        #expect(v["a"]?["t"] == .bool(true))
    }

    @Test func rejectsDuplicateKeysEvenWhenEscaped() {
        #expect(throws: JSONError.duplicateKey("a")) { try JSONParser.parse(#"{"a": 1, "\u0061": 2}"#) }
        #expect(throws: JSONError.duplicateKey("x")) { try JSONParser.parse(#"{"o": {"x": 1, "x": 1}}"#) }
        #expect((try? JSONParser.parse(#"{"o": {"x": 1}, "p": {"x": 1}}"#)) != nil)
    }

    @Test func topLevelScalarsParse() throws {
        #expect(try JSONParser.parse(" null ") == .null)
        #expect(try JSONParser.parse("7") == .integer(7))
    }

    @Test func enforcesDepthLimit() {
        let deep = String(repeating: "[", count: 40) + String(repeating: "]", count: 40)
        #expect(throws: JSONError.self) { try JSONParser.parse(deep) }
        #expect((try? JSONParser.parse(deep, depthLimit: 64)) != nil)
    }

    @Test func integersBeyond64BitsAreRefusedNotSaturated() throws {
        #expect(try JSONParser.parse("9223372036854775807") == .integer(Int64.max))
        #expect(try JSONParser.parse("10000000000000000000") == .double(1e19))
        #expect(throws: JSONError.self) { try JSONParser.parse("18446744073709551615") }
        #expect(throws: JSONError.self) { try JSONParser.parse("{\"lora_scale\": 1\(String(repeating: "0", count: 400))}") }
    }

    @Test func rejectsTrailingGarbageAndBadSyntax() {
        #expect(throws: JSONError.self) { try JSONParser.parse("{} x") }
        #expect(throws: JSONError.self) { try JSONParser.parse("{\"a\": NaN}") }
        #expect(throws: JSONError.self) { try JSONParser.parse("{\"a\": 1 /* c */}") }
        #expect(throws: JSONError.self) { try JSONParser.parse("{'a': 1}") }
        #expect(throws: JSONError.self) { try JSONParser.parse("{\"a\": 1,}") }
        #expect(throws: JSONError.self) { try JSONParser.parse("") }
    }

    @Test func serializesDeterministicallyAndRoundTrips() throws {
        let v: JSONValue = .object([("z", .double(0.1)), ("a", .string("q\"\n\u{01}")), ("n", .array([.integer(-3), .null]))])
        let text = v.serialized()
        #expect(text == #"{"z":0.1,"a":"q\"\n\u0001","n":[-3,null]}"#)
        #expect(try JSONParser.parse(text) == v)
        #expect(try JSONParser.parse(v.serialized(indent: 2)) == v)
    }
}
