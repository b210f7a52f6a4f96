import Testing
@testable import LoRDBA

/// Damaged tables and sections: malformed and invalid JSON, misplaced sections, shapes, sign padding, encodings.
extension LBACorruptionTests {
    @Test func malformedTablesAreRejected() throws {
        let parts = try LBAParts(Self.small)
        let edits: [(String, (inout JSONValue) -> Void)] = [
            ("missing member", { $0.remove(["modules", 0], "binary_rank") }),
            ("wrong type", { $0.set(["modules", 0, "in"], .string("5")) }),
            ("fraction", { $0.set(["modules", 0, "out"], .double(3.5)) }),
            ("negative", { $0.set(["modules", 0, "rank"], .integer(-1)) }),
            ("unknown kind", { $0.set(["modules", 0, "kind"], .string("attention")) }),
            ("unknown dtype", { $0.set(["scale_dtype"], .string("f8")) }),
            ("unknown layout", { $0.set(["layout"], .string("diffusers")) }),
            ("bad format", { $0.set(["format"], .string("lbb")) }),
            ("version mismatch", { $0.set(["version"], .array([.integer(1), .integer(1)])) }),
            ("metadata value", { $0.set(["metadata", "k"], .integer(1)) }),
            ("dangling reference", { $0.set(["modules", 0, "sections", "sign_a"], .integer(99)) }),
            ("wrong section kind", { $0.set(["modules", 0, "sections", "sign_a"], .integer(1)) }),
            ("section used twice", { $0.set(["carried", 1, "section"], .integer(5)) }),
            ("section unused", { $0.remove(["modules", 0, "sections"], "scale_a") }),
            ("crc out of range", { $0.set(["sections", 0, "crc32c"], .integer(1 << 32)) }),
            ("carried shape", { $0.set(["carried", 0, "shape"], .array([.integer(65)])) }),
            ("carried dtype", { $0.set(["carried", 0, "dtype"], .string("F3")) }),
            ("table not an object", { $0 = .array([]) }),
            ("modules not an array", { $0.set(["modules"], .object([])) }),
            ("duplicate module", { json in
                json.update(["modules"]) { if case .array(let m) = $0 { $0 = .array(m + m) } }
            }),
            ("conv without kernel", { $0.set(["modules", 0, "kind"], .string("conv")) }),
            ("conv kernel does not divide in", { json in
                json.set(["modules", 0, "kind"], .string("conv"))
                json.set(["modules", 0, "kernel"], .array([.integer(2)]))
            }),
        ]
        for (name, edit) in edits {
            let error = reject(parts.assemble(edit: edit))
            switch error {
            case .table?, .shape?: break
            default: Issue.record("\(name): \(String(describing: error))")
            }
        }
    }

    @Test func invalidJSONIsRejected() throws {
        let file = try LBAFile(bytes: Self.small)
        for replacement in [Array("{\"format\": }".utf8), Array("{\"a\":1,\"a\":2}".utf8), [0xFF, 0xFE]] {
            var bytes = Self.small
            // Overwrite the start of the table with spaces and put the bad text at the front.
            for i in 64..<(64 + file.tableLength) { bytes[i] = 0x20 }
            bytes.replaceSubrange(64..<(64 + replacement.count), with: replacement)
            bytes.storeLE(CRC32C.checksum(bytes[64..<(64 + file.tableLength)]), at: 40)
            bytes.storeLE(CRC32C.checksum(bytes[0..<60]), at: 60)
            guard case .table(_, "table", _)? = reject(bytes) else { Issue.record("bad JSON accepted"); continue }
        }
    }

    @Test func misplacedSectionsAreRejected() throws {
        let parts = try LBAParts(Self.small)
        let moves: [(inout JSONValue) -> Void] = [
            { $0.update(["sections", 1, "offset"]) { $0 = .integer($0.integerValue! - 64) } },   // overlaps section 0
            { $0.update(["sections", 1, "offset"]) { $0 = .integer($0.integerValue! + 64) } },   // gap / out of order
            { $0.update(["sections", 1, "offset"]) { $0 = .integer($0.integerValue! + 8) } },    // misaligned
            { $0.update(["sections", 5, "offset"]) { $0 = .integer($0.integerValue! + 1_000_000) } },  // past the end
            { $0.update(["sections", 5, "length"]) { $0 = .integer($0.integerValue! + 1_000_000) } },
            { $0.set(["sections", 5, "length"], .integer(Int64.max)) },                            // overflow
            { $0.set(["sections", 0, "offset"], .integer(0)) },                                    // over the preamble
        ]
        for (index, move) in moves.enumerated() {
            let error = reject(parts.assemble(edit: move))
            switch error {
            case .layout?, .shape?: break
            default: Issue.record("move \(index): \(String(describing: error))")
            }
        }
    }

    @Test func shapesMustMatchSectionSizes() throws {
        let parts = try LBAParts(Self.small)
        for (key, value) in [("in", 64), ("out", 4), ("binary_rank", 3)] {
            guard case .shape? = reject(parts.assemble { $0.set(["modules", 0, .key(key)], .integer(Int64(value))) }) else {
                Issue.record("\(key) = \(value) accepted"); continue
            }
        }
        // Sizes that would overflow are rejected, not trapped on.
        let huge = parts.assemble {
            $0.set(["modules", 0, "in"], .integer(Int64.max))
            $0.set(["modules", 0, "binary_rank"], .integer(Int64.max))
        }
        guard case .table? = reject(huge) else { Issue.record("overflowing shape accepted"); return }
    }

    @Test func signPaddingBitsAreRejected() throws {
        var parts = try LBAParts(Self.small)
        parts.sections[0][0] |= 0x80   // sign_a is [2, 5]: bit 7 of row 0 is padding
        guard case .signPadding(_, let context, 0)? = reject(parts.assemble()) else {
            Issue.record("padding bit accepted"); return
        }
        #expect(context.contains("sign_a"))
        var rowOne = try LBAParts(Self.small)
        rowOne.sections[1][15] |= 0x80  // sign_b is [2, 3]: the top bit of row 1's word
        guard case .signPadding(_, _, 1)? = reject(rowOne.assemble()) else { Issue.record("row 1 padding accepted"); return }
    }

    @Test func encodingAndCompressionFailures() throws {
        let file = try LBAFile(bytes: Self.small)
        let zstdIndex = try #require(file.sections.firstIndex { $0.encoding == .zstd })
        let parts = try LBAParts(Self.small)
        guard case .unknownEncoding(_, _, "lz4")? = reject(parts.assemble { $0.set(["sections", .index(zstdIndex), "encoding"], .string("lz4")) }) else {
            Issue.record("unknown encoding accepted"); return
        }
        // Declared decoded size different from the frame's.
        guard case .compression? = reject(parts.assemble {
            $0.set(["sections", .index(zstdIndex), "decoded_length"], .integer(252))
            $0.set(["carried", 0, "shape"], .array([.integer(63)]))
        }) else { Issue.record("wrong decoded size accepted"); return }
        // Garbage in place of the frame, with a valid CRC.
        var garbage = parts
        garbage.sections[zstdIndex] = [UInt8](repeating: 0xAB, count: garbage.sections[zstdIndex].count)
        guard case .compression? = reject(garbage.assemble()) else { Issue.record("garbage frame accepted"); return }
        // A decompression bomb claim is refused before any allocation.
        guard case .compression? = reject(parts.assemble {
            $0.set(["sections", .index(zstdIndex), "decoded_length"], .integer(1 << 40))
        }) else { Issue.record("impossible ratio accepted"); return }
        // A raw section whose decoded length differs from its length.
        guard case .layout? = reject(parts.assemble { $0.set(["sections", 0, "decoded_length"], .integer(8)) }) else {
            Issue.record("raw length mismatch accepted"); return
        }
    }
}
