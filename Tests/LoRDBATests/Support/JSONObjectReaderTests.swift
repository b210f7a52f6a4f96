import Testing
@testable import LoRDBA

@Suite struct JSONObjectReaderTests {
    struct Failure: Error, Equatable {
        var context: String
        var problem: JSONMemberProblem
    }

    func reader(_ text: String, nullMeansAbsent: Bool = false, refusesUnknownMembers: Bool = true) throws -> JSONObjectReader<Failure> {
        try JSONObjectReader(JSONParser.parse(text), context: "root", nullMeansAbsent: nullMeansAbsent,
                             refusesUnknownMembers: refusesUnknownMembers) { Failure(context: $0, problem: $1) }
    }

    @Test func typedMembersAndTheirProblems() throws {
        var object = try reader(#"{"s": "x", "n": 7, "d": 1.5, "f": 1.0, "neg": -2, "a": [1], "o": {"k": true}}"#)
        #expect(try object.string("s") == "x")
        #expect(try object.nonNegativeInteger("n") == 7)
        #expect(try object.number("d") == 1.5)
        #expect(try object.array("a") == [.integer(1)])
        var inner = try object.object("o", context: "inner")
        #expect(try inner.optionalBool("k") == true)
        #expect(try object.optionalString("absent") == nil)
        // 1.0 is a number but not an integer; negative integers are refused.
        #expect(throws: Failure(context: "root", problem: .wrongType(key: "f", found: .double(1), expected: "an integer"))) {
            try object.nonNegativeInteger("f")
        }
        #expect(throws: Failure(context: "root", problem: .negative(key: "neg", value: -2))) {
            try object.nonNegativeInteger("neg")
        }
        #expect(throws: Failure(context: "root", problem: .missing(key: "m"))) { try object.string("m") }
        #expect(throws: Failure(context: "root", problem: .wrongType(key: "s", found: .string("x"), expected: "an object"))) {
            try object.object("s")
        }
    }

    @Test func unknownMembersAndNulls() throws {
        var strict = try reader(#"{"a": 1, "extra": null}"#)
        _ = try strict.nonNegativeInteger("a")
        #expect(throws: Failure(context: "root", problem: .unknownMember(key: "extra"))) { try strict.finish() }
        #expect(throws: Failure(context: "root", problem: .wrongType(key: "extra", found: .null, expected: "a string"))) {
            try strict.optionalString("extra")
        }

        var lenient = try reader(#"{"a": 1, "extra": null}"#, nullMeansAbsent: true, refusesUnknownMembers: false)
        #expect(try lenient.optionalString("extra") == nil)
        try lenient.finish()

        #expect(throws: Failure(context: "root", problem: .notAnObject(found: .array([])))) { _ = try reader("[]") }
        #expect(JSONMemberProblem.wrongType(key: "k", found: .array([]), expected: "a string").description
                == "member \"k\" is an array, expected a string")
    }
}
