import Testing
@testable import LoRDBA

/// The `diffusers` layout value came with format 1.1; other layouts with a raw table are still written as 1.0.
@Suite struct LBADiffusersLayoutTests {
    @Test func diffusersFilesAreVersionOneOneAndRoundTrip() throws {
        var adapter = Fixtures.small()
        adapter.layout = .diffusers
        let bytes = try LBAWriter().encode(adapter).bytes
        #expect(bytes[10] == 1 && bytes[11] == 0)
        let file = try LBAFile(bytes: bytes)
        #expect(file.version == LBAVersion(major: 1, minor: 1))
        #expect(file.table["version"] == .array([.integer(1), .integer(1)]))
        #expect(file.table["layout"] == .string("diffusers"))
        expectSameAdapter(file.adapter, adapter)
        for layout in [AdapterLayout.peft, .mlx, .kohya] {
            adapter.layout = layout
            let older = try LBAFile(bytes: try LBAWriter(compression: true, tableCompression: false).encode(adapter).bytes)
            #expect(older.version == LBAVersion(major: 1, minor: 0) && older.adapter.layout == layout)
        }
    }

    @Test func aOneZeroFileCannotClaimTheDiffusersLayout() throws {
        var adapter = Fixtures.small()
        adapter.layout = .diffusers
        var parts = try LBAParts(try LBAWriter().encode(adapter).bytes)
        parts.minor = 0
        let bytes = parts.assemble { $0.set(["version"], .array([.integer(1), .integer(0)])) }
        do {
            _ = try LBAFile(bytes: bytes, path: "old.lba")
            Issue.record("a 1.0 diffusers file was accepted")
        } catch {
            RejectedFiles.record(bytes, test: "diffusers")
            #expect(error.description == "old.lba: table: layout \"diffusers\" needs format version 1.1, the file says 1.0")
        }
    }
}
