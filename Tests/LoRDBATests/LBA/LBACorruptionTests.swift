import Testing
@testable import LoRDBA

/// Damaged .lba files are rejected with one-line errors: bit flips, truncation, signature, versions, checksums, padding.
/// (Damaged tables and sections in LBACorruptionTests+TableAndSections.swift.)
@Suite struct LBACorruptionTests {
    /// The table raw, so tests can edit it in place (compressed tables have their own tests).
    static let small: [UInt8] = try! LBAWriter(compression: true, tableCompression: false).encode(Fixtures.small()).bytes

    /// Reads `bytes` expecting a rejection; returns the error.
    func reject(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> LBAError? {
        do {
            _ = try LBAFile(bytes: bytes, path: "test.lba")
            Issue.record("the reader accepted a bad file", sourceLocation: sourceLocation)
            return nil
        } catch {
            RejectedFiles.record(bytes, test: "corruption")
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("test.lba: "), sourceLocation: sourceLocation)
            return error
        }
    }

    @Test func smallFileHasEveryKindOfRegion() throws {
        let file = try LBAFile(bytes: Self.small)
        #expect(file.sections.contains { $0.encoding == .zstd })
        #expect(file.sections.contains { $0.encoding == .raw })
        #expect(file.sections.contains { $0.content == .scaleA })
        #expect(Self.small.count <= 2048)
    }

    @Test func everySingleBitFlipIsRejected() {
        let original = Self.small
        var accepted: [Int] = []
        for bit in 0..<(original.count * 8) {
            var bytes = original
            bytes[bit / 8] ^= 1 << UInt8(bit % 8)
            do {
                _ = try LBAFile(bytes: bytes)
                accepted.append(bit)
            } catch {
                if error.description.contains("\n") { accepted.append(bit) }
            }
        }
        #expect(accepted.isEmpty, "flipped bits accepted: \(accepted.prefix(20))")
    }

    @Test func truncationIsRejected() throws {
        let bytes = Self.small
        let file = try LBAFile(bytes: bytes)
        let cuts = [0, 1, 7, 8, 63, 64, 65, 64 + file.tableLength / 2, file.sections[0].offset,
                    file.sections[2].offset + 3, bytes.count - 64, bytes.count - 1]
        for cut in cuts {
            let error = reject(Array(bytes[0..<cut]))
            switch error {
            case .truncated?: break
            default: Issue.record("cut at \(cut): \(String(describing: error))")
            }
        }
        #expect(reject([0x89, 0x4C, 0x42, 0x41, 0x0D, 0x0A, 0x1A, 0x0A, 1, 0, 0, 0]).map { $0.context } == "preamble")
    }

    @Test func extraBytesAreRejected() {
        for extra in [[UInt8(0)], [UInt8](repeating: 0, count: 64), [UInt8(1)]] {
            guard case .fileLength(_, let declared, let actual)? = reject(Self.small + extra) else {
                Issue.record("appended \(extra.count) bytes not reported as a length mismatch"); continue
            }
            #expect(declared == Self.small.count && actual == Self.small.count + extra.count)
        }
    }

    @Test func badSignatureAndTextModeMangling() {
        #expect(reject(Array("PK\u{3}\u{4} not an lba file at all, but long enough to hold a preamble.....".utf8)) == .badMagic(path: "test.lba"))
        // CRLF → LF conversion, as a text-mode transfer would do.
        var mangled = Self.small
        mangled.remove(at: 4)
        #expect(reject(mangled) == .badMagic(path: "test.lba"))
        // High bit stripped by a 7-bit channel.
        var stripped = Self.small
        stripped[0] &= 0x7F
        #expect(reject(stripped) == .badMagic(path: "test.lba"))
    }

    @Test func unknownMajorVersionIsRefused() throws {
        var parts = try LBAParts(Self.small)
        parts.major = 2
        let bytes = parts.assemble { $0.set(["version"], .array([.integer(2), .integer(0)])) }
        #expect(reject(bytes) == .unsupportedVersion(path: "test.lba", major: 2, minor: 0))
        parts.major = 0
        #expect(reject(parts.assemble()) == .unsupportedVersion(path: "test.lba", major: 0, minor: 0))
    }

    @Test func newerMinorVersionIsReadAndItsAdditionsSkipped() throws {
        var parts = try LBAParts(Self.small)
        parts.minor = 7
        // A section kind this reader does not know; assemble fills in its offset, length and CRC.
        parts.sections.append(Array("future data".utf8))
        parts.table.update(["sections"]) { list in
            if case .array(let items) = list {
                list = .array(items + [.object([
                    ("content", .string("future_kind")), ("future_owner", .integer(0)), ("offset", .integer(0)),
                    ("length", .integer(0)), ("decoded_length", .integer(11)), ("encoding", .string("raw")),
                    ("crc32c", .integer(0)),
                ])])
            }
        }
        let bytes = parts.assemble { json in
            json.set(["version"], .array([.integer(1), .integer(7)]))
            json.set(["future_member"], .string("ignored"))
            json.set(["modules", 0, "future_hint"], .integer(3))
        }
        let file = try LBAFile(bytes: bytes)
        #expect(file.version == LBAVersion(major: 1, minor: 7))
        expectSameAdapter(file.adapter, Fixtures.small())
        #expect(file.sections.last?.content == .unknown("future_kind"))

        // The same additions in a file that claims 1.0 are refused.
        parts.minor = 0
        guard case .table(_, _, let problem)? = reject(parts.assemble()) else { Issue.record("unknown section accepted"); return }
        #expect(problem.contains("future_kind"))
        let original = try LBAParts(Self.small)
        guard case .table(_, _, let member)? = reject(original.assemble { $0.set(["modules", 0, "future_hint"], .integer(3)) }) else {
            Issue.record("unknown member accepted"); return
        }
        #expect(member.contains("future_hint"))
    }

    @Test func unknownFlagsAndReservedBytes() throws {
        var parts = try LBAParts(Self.small)
        parts.flags = 4
        #expect(reject(parts.assemble()) == .unsupportedFlags(path: "test.lba", flags: 4))
        // A nonzero reserved byte with a valid preamble CRC.
        var bytes = Self.small
        bytes[50] = 1
        bytes.storeLE(CRC32C.checksum(bytes[0..<60]), at: 60)
        guard case .nonZeroPadding(_, _, 50)? = reject(bytes) else { Issue.record("reserved byte accepted"); return }
    }

    @Test func checksumErrorsNameTheDamagedPart() throws {
        let file = try LBAFile(bytes: Self.small)
        for section in file.sections {
            var bytes = Self.small
            bytes[section.offset] ^= 0x10
            guard case .checksum(_, let context, _, _)? = reject(bytes) else { Issue.record("no CRC error"); continue }
            #expect(context == section.label)
        }
        var table = Self.small
        table[70] ^= 1
        #expect(reject(table)?.context == "table")
        var preamble = Self.small
        preamble[20] ^= 1
        #expect(reject(preamble)?.context == "preamble")
        let signA = try #require(file.sections.first { $0.content == .signA })
        #expect(signA.label == #"module "m" sign_a (section 0)"#)
    }

    @Test func nonZeroPaddingIsRejected() throws {
        let file = try LBAFile(bytes: Self.small)
        var bytes = Self.small
        let afterTable = 64 + file.tableLength
        #expect(afterTable % 64 != 0)
        bytes[afterTable] = 0x20   // a space: still valid JSON if it were part of the table, but it is padding
        guard case .nonZeroPadding(_, _, let offset)? = reject(bytes) else { Issue.record("padding accepted"); return }
        #expect(offset == afterTable)
        var tail = Self.small
        tail[tail.count - 1] = 1
        #expect(reject(tail).map { if case .nonZeroPadding = $0 { true } else { false } } == true)
    }

    @Test func descriptionsAreOneLineWithPathAndContext() {
        let errors: [LBAError] = [
            .checksum(path: "/a/b.lba", context: #"module "x\ny" sign_a (section 3)"#, stored: 1, computed: 2),
            .io(path: "/a/b\n.lba", operation: .open, errno: 2),
            .badMagic(path: "x.lba"),
            .truncated(path: "x.lba", context: "file", size: 10, needed: 64),
        ]
        for error in errors {
            #expect(!error.description.contains("\n"))
            #expect(error.description.split(separator: ":").count >= 3)
        }
        #expect(errors[0].description == #"/a/b.lba: module "x\ny" sign_a (section 3): CRC-32C mismatch: stored 0x00000001, computed 0x00000002 (the data is corrupted)"#)
        #expect(LBAError.quote("a\nb\u{7}") == #""a\nb\u{7}""#)
    }
}
