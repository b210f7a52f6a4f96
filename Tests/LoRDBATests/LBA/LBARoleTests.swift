import Testing
@testable import LoRDBA

/// Format 1.1: carried tensor `role` and module `dora`.
@Suite struct LBARoleTests {
    /// Fixtures.small() (module "m", out = 3) with a DoRA magnitude and roles: a 1.1 file.
    static func doraAdapter() -> BinaryAdapter {
        var adapter = Fixtures.small()
        adapter.carried[0].role = .other
        adapter.carried[1].role = .modulesToSave
        adapter.carried.append(CarriedTensor(name: "m.lora_magnitude_vector", dtype: .f32, shape: [3],
                                             bytes: SafeTensorsWriter.encode([Float]([1, 2, 3]), as: .f32), role: .magnitude))
        return adapter
    }

    static func reject(_ bytes: [UInt8]) -> LBAError? {
        let error = caught { () throws(LBAError) in _ = try LBAFile(bytes: bytes, path: "t.lba") }
        if error != nil { RejectedFiles.record(bytes, test: "role") }
        return error
    }

    @Test func rolesAndDoRARoundTripAsVersion1_1() throws {
        let bytes = try LBAWriter().encode(Self.doraAdapter()).bytes
        let file = try LBAFile(bytes: bytes)
        #expect(file.version == LBAVersion(major: 1, minor: 1))
        #expect(file.doraMagnitudes == ["m": "m.lora_magnitude_vector"])
        #expect(file.adapter.carried.map(\.role) == [.other, .modulesToSave, .magnitude])
        #expect(file.table["modules"]?.arrayValue?.first?["dora"] == .object([("magnitude", .string("m.lora_magnitude_vector"))]))
        // Without roles the same adapter is still written as 1.0, byte for byte as before.
        let plain = try LBAFile(bytes: try LBAWriter(compression: true, tableCompression: false).encode(Fixtures.small()).bytes)
        #expect(plain.version == LBAVersion(major: 1, minor: 0) && plain.doraMagnitudes.isEmpty)
    }

    @Test func badRolesAndDoRAReferencesAreRejected() throws {
        let parts = try LBAParts(try LBAWriter().encode(Self.doraAdapter()).bytes)
        let unknownRole = Self.reject(parts.assemble { $0.set(["carried", 0, "role"], .string("head")) })
        #expect(unknownRole?.description.contains("unknown role") == true)
        let missing = Self.reject(parts.assemble { $0.set(["modules", 0, "dora", "magnitude"], .string("nope")) })
        #expect(missing?.description.contains("not a carried tensor") == true)
        let wrongRole = Self.reject(parts.assemble { $0.set(["modules", 0, "dora", "magnitude"], .string("z")) })
        #expect(wrongRole?.description.contains("role") == true)
        let wrongSize = Self.reject(parts.assemble {
            $0.set(["carried", 0, "role"], .string("magnitude"))
            $0.set(["modules", 0, "dora", "magnitude"], .string("z"))   // z has 64 elements, out = 3
        })
        #expect(wrongSize?.description.contains("elements") == true)
        // A file that claims 1.0 must not use the 1.1 members.
        var old = parts
        old.minor = 0
        let claimed = Self.reject(old.assemble { $0.set(["version"], .array([.integer(1), .integer(0)])) })
        #expect(claimed?.description.contains("unknown member") == true)
    }
}
