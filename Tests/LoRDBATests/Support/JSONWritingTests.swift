import Testing
@testable import LoRDBA

/// The byte writer behind `JSONValue.serialized` writes the same text as the String writer it
/// replaced (`referenceSerialized`), compact and indented, on values that reach every branch.
@Suite struct JSONWritingTests {
    static let strings = ["", "plain", "with \"quotes\"", "back\\slash", "tab\tnew\nline\rcr", "\u{08}\u{0C}\u{01}\u{1F}",
                          "é ü ß", "emoji 🙂 and CJK 漢字", "mixed \u{7F} \u{80} \u{2028}", "base_model.model.layers.0.q_proj"]

    static func randomValue(_ rng: inout SeededGenerator, depth: Int) -> JSONValue {
        switch rng.next() % (depth > 3 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(rng.next() % 2 == 0)
        case 2:
            let special: [Int64] = [0, -1, 1, 9, 10, -10, .max, .min, 999_999_999_999_999]
            return .integer(rng.next() % 3 == 0 ? special[Int(rng.next() % UInt64(special.count))]
                                                : Int64(bitPattern: rng.next()) >> Int64(rng.next() % 63))
        case 3:
            let special: [Double] = [0, -0.0, 1, -1, 0.1, 1e15, 1e15 - 1, -1e15, 1e16, 123456.5, .nan, .infinity,
                                     -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 2.5e-8, 0.6874053886067372]
            return .double(rng.next() % 2 == 0 ? special[Int(rng.next() % UInt64(special.count))]
                                               : Double(bitPattern: rng.next()))
        case 4: return .string(strings[Int(rng.next() % UInt64(strings.count))])
        case 5: return .array((0..<Int(rng.next() % 4)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            return .object((0..<Int(rng.next() % 4)).map { n in
                (strings[Int(rng.next() % UInt64(strings.count))] + "\(n)", randomValue(&rng, depth: depth + 1))
            })
        }
    }

    @Test func writesTheSameTextAsTheStringWriter() {
        var rng = SeededGenerator(seed: 17)
        for _ in 0..<2_000 {
            let value = Self.randomValue(&rng, depth: 0)
            for indent in [nil, 0, 2] as [Int?] {
                let expected = value.referenceSerialized(indent: indent)
                #expect(value.serialized(indent: indent) == expected)
                #expect(value.serializedBytes(indent: indent) == Array(expected.utf8))
            }
        }
    }
}
