import Foundation
import Testing
@testable import LoRDBA

/// Crafted `.lba` files that once crashed, hung or exhausted memory: each is now a
/// one-line rejection, quickly.
@Suite(.timeLimit(.minutes(1))) struct LBAHardeningTests {
    static let small: [UInt8] = try! LBAWriter().encode(Fixtures.small()).bytes

    func reject(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> LBAError? {
        do {
            _ = try LBAFile(bytes: bytes, path: "crafted.lba")
            Issue.record("the reader accepted a crafted file", sourceLocation: sourceLocation)
            return nil
        } catch {
            RejectedFiles.record(bytes, test: "hardening")
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            return error
        }
    }

    @Test func dimensionsOutsideTheirBoundsAreRejectedWithoutTrapping() throws {
        let parts = try LBAParts(Self.small)
        // The crash of the issue: in = 2^63 − 1 with k = 0 overflowed in sign-matrix sizing.
        let crash = parts.assemble {
            $0.set(["modules", 0, "in"], .integer(Int64.max))
            $0.set(["modules", 0, "binary_rank"], .integer(0))
        }
        guard case .table(_, _, let problem)? = reject(crash) else { Issue.record("accepted"); return }
        #expect(problem.contains("outside 1…"))
        for key in ["in", "out", "rank", "binary_rank"] {
            guard case .table? = reject(parts.assemble { $0.set(["modules", 0, .key(key)], .integer(0)) }) else {
                Issue.record("\(key) = 0 accepted"); continue
            }
        }
        // k above 64 × rank.
        let wide = parts.assemble { $0.set(["modules", 0, "rank"], .integer(1)); $0.set(["modules", 0, "binary_rank"], .integer(65)) }
        guard case .table(_, _, let kProblem)? = reject(wide) else { Issue.record("k > 64r accepted"); return }
        #expect(kProblem.contains("64 × rank"))
    }

    @Test func loraScaleMustBeFiniteAndPositive() throws {
        let parts = try LBAParts(Self.small)
        for value: JSONValue in [.integer(0), .double(-1.5)] {
            guard case .table(_, _, let problem)? = reject(parts.assemble { $0.set(["modules", 0, "lora_scale"], value) }) else {
                Issue.record("lora_scale \(value) accepted"); continue
            }
            #expect(problem.contains("lora_scale"))
        }
    }

    @Test func anEmptyModuleListIsRejected() throws {
        let parts = try LBAParts(Self.small)
        let empty = parts.assemble { $0.set(["modules"], .array([])) }
        guard case .table(_, _, let problem)? = reject(empty) else { Issue.record("accepted"); return }
        #expect(problem.contains("empty"))
    }

    @Test func nonFiniteScalesAreRejectedOnReadAndRefusedOnWrite() throws {
        // e4m3 0x7F is NaN; f16 0x7C00 is +∞.
        for (dtype, bytes) in [(ScaleDType.e4m3, [UInt8(0x7F)]), (.f16, [0x00, 0x7C])] {
            var adapter = Fixtures.small()
            adapter.scaleDType = dtype
            var parts = try LBAParts(try LBAWriter().encode(adapter).bytes)
            let sections = parts.table["sections"]!.arrayValue!
            let index = sections.firstIndex { $0["content"]?.stringValue == "scale_b" }!
            #expect(sections[index]["encoding"]?.stringValue == "raw")
            parts.sections[index].replaceSubrange(0..<bytes.count, with: bytes)
            guard case .table(_, let context, let problem)? = reject(parts.assemble()) else {
                Issue.record("\(dtype) non-finite scale accepted"); continue
            }
            #expect(context.contains("scale_b") && problem.contains("finite"))
            // The writer refuses them too, including a finite Float that overflows the dtype.
            var bad = Fixtures.small()
            bad.scaleDType = .f16
            bad.modules[0].scales.output[0] = 1e6
            #expect(throws: LBAError.self) { try LBAWriter().encode(bad) }
        }
    }

    @Test func totalDecodedSizeIsBoundedByTheFileSize() throws {
        // 48 MiB of zeros in a ~2 kB zstd frame, claimed by a ~4 kB file: every section is
        // within the per-section ratio, but the total is above 64 × the file size + 32 MiB.
        var parts = try LBAParts(Self.small)
        let sections = parts.table["sections"]!.arrayValue!
        let index = sections.firstIndex { $0["content"]?.stringValue == "carried" && $0["encoding"]?.stringValue == "zstd" }!
        let decoded = 48 << 20
        parts.sections[index] = try Zstd.compress([UInt8](repeating: 0, count: decoded), level: 3)
        let tensor = Int(sections[index]["tensor"]!.integerValue!)
        let bytes = parts.assemble {
            $0.set(["sections", .index(index), "decoded_length"], .integer(Int64(decoded)))
            $0.set(["carried", .index(tensor), "shape"], .array([.integer(Int64(decoded / 4))]))
        }
        #expect(bytes.count < 8192)
        guard case .compression(_, _, let problem)? = reject(bytes) else { Issue.record("accepted"); return }
        #expect(problem.contains("64 ×"))
        // Within the budget, the same construction is read (the writer's own files always are).
        var fine = try LBAParts(Self.small)
        fine.sections[index] = try Zstd.compress([UInt8](repeating: 0, count: 1 << 20), level: 3)
        let accepted = fine.assemble {
            $0.set(["sections", .index(index), "decoded_length"], .integer(1 << 20))
            $0.set(["carried", .index(tensor), "shape"], .array([.integer(1 << 18)]))
        }
        #expect(try LBAFile(bytes: accepted).adapter.carried.first { $0.bytes.count == 1 << 20 } != nil)
    }

    @Test func zstdWindowAboveTheLimitIsRefused() throws {
        // One frame by hand: 2-byte content size (300), no single segment, a window descriptor,
        // and one last RLE block of 300 zeros.
        func frame(windowLog: Int) -> [UInt8] {
            let descriptor = UInt8((windowLog - 10) << 3)
            let blockHeader = 1 | (1 << 1) | (300 << 3)
            return [0x28, 0xB5, 0x2F, 0xFD, 0x40, descriptor, 44, 0,
                    UInt8(blockHeader & 0xFF), UInt8((blockHeader >> 8) & 0xFF), UInt8(blockHeader >> 16), 0]
        }
        #expect(try Zstd.decompress(frame(windowLog: 20), expectedSize: 300) == [UInt8](repeating: 0, count: 300))
        #expect(throws: ZstdError.self) { try Zstd.decompress(frame(windowLog: 31), expectedSize: 300) }
        #expect(throws: ZstdError.self) { try Zstd.decompress(frame(windowLog: 28), expectedSize: 300) }
    }

    @Test func formattersNeitherTrapNorLoopOnExtremeValues() {
        #expect(Format.fixed(1e30, 3) == "\(1e30)")
        #expect(Format.fixed(.nan, 3) == "nan")
        #expect(Inspector.shortNumber(.infinity) == "inf")
        #expect(Inspector.shortNumber(-.infinity) == "-inf")
        #expect(Inspector.shortNumber(1e-300).hasSuffix("e-300"))
        let json = JSONValue.object([("a", .double(.nan)), ("b", .array([.double(1), .double(-.infinity)]))])
        #expect(json.serialized() == #"{"a":null,"b":[1,null]}"#)
        #expect(json.nonFinitePaths() == ["a", "b[1]"])
    }
}
