import Foundation
import Testing
@testable import LoRDBA

/// Whatever the writer accepts, its reader reads: the table is checked with the reader's rules
/// before anything is written, and the converter refuses at the input what a `.lba` cannot hold.
@Suite(.timeLimit(.minutes(1))) struct LBAReadBackTests {
    static let huge = 1 << 62

    @Test func writerRefusesATableItsReaderWouldRefuse() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var adapter = Fixtures.small()
        adapter.carried.append(CarriedTensor(name: "empty", dtype: .f32, shape: [0, Self.huge, Self.huge], bytes: []))
        let error = caught { () throws(LBAError) in try LBAWriter().encode(adapter) }
        guard case .invalidAdapter(_, let context, let problem)? = error else {
            Issue.record("expected invalidAdapter, got \(String(describing: error))")
            return
        }
        #expect(context.contains(#""empty""#))
        #expect(problem.contains("shape entries must be integers from 0 to 2147483647"))
        let path = dir.path + "/x.lba"
        #expect(throws: LBAError.self) { try LBAWriter().write(adapter, to: path, overwrite: false) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // The largest dimension the format holds is written and read back.
        adapter.carried[adapter.carried.count - 1].shape = [0, LBAFormat.maximumDimension]
        let file = try LBAFile(bytes: try LBAWriter().encode(adapter).bytes)
        #expect(file.adapter.carried.last?.shape == [0, LBAFormat.maximumDimension])
    }

    @Test func convertRefusesAnEmptyTensorTooLargeForTheFormat() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let folder = dir.mkdir("adapter")
        let name = "base_model.model.model.layers.0.q_proj"
        let tensors = [ReadingFixtures.tensor(name + ".lora_A.weight", [4, 16], seed: 1),
                       ReadingFixtures.tensor(name + ".lora_B.weight", [8, 4], seed: 2),
                       (name: "extra.empty", dtype: TensorDType.f32, shape: [0, Self.huge, Self.huge], bytes: [UInt8]())]
        let weights = folder + "/adapter_model.safetensors"
        try Data(SafeTensorsWriter.serialize(tensors, metadata: nil)).write(to: URL(fileURLWithPath: weights))
        try #"{"peft_type": "LORA", "r": 4, "lora_alpha": 4}"#.write(toFile: folder + "/adapter_config.json", atomically: true, encoding: .utf8)
        let output = dir.path + "/out.lba"
        let result = try Tool(name: "lordba-convert").run([folder, output, "--plain"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(weights) && result.stderr.contains("extra.empty") && result.stderr.contains("2147483647"))
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["adapter"])
    }
}
