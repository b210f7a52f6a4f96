import Testing
@testable import LoRDBA

/// A shard report's `inputs_total` sizes the merge only once the reports' inputs add up to it.
@Suite(.timeLimit(.minutes(1))) struct ShardClaimTests {
    func shard(_ i: Int, inputs: [String], positions: [Int], total: Int) -> JSONValue {
        .object([("schema_version", .integer(1)), ("tool", .string("lordba-convert")),
                 ("inputs", .array(inputs.map { RunReportJSON.skipped(input: $0, output: $0 + ".lba", reason: "up to date") })),
                 ("max_error", .null), ("exceeded", .array([])),
                 ("shard", ShardRecord(shard: Shard(index: i, count: 2)!, inputsTotal: total, positions: positions).json)])
    }

    @Test func claimedTotalAboveTheInputsHeldIsRefusedBeforeAllocating() throws {
        // Two one-input reports claiming 100 000 000 inputs (a slot table of about 4 GB).
        let claim = 100_000_000
        let reports = [("1.json", shard(1, inputs: ["x"], positions: [1], total: claim)),
                       ("2.json", shard(2, inputs: ["y"], positions: [0], total: claim))]
        #expect(throws: ReportMerge.MergeError.invalidRecord(
            path: "1.json", reason: "the shard reports hold 2 inputs, not inputs_total = 100000000")) {
            try ReportMerge.merge(reports)
        }
        // The same reports with the true total merge.
        let merged = try ReportMerge.merge([("1.json", shard(1, inputs: ["x"], positions: [1], total: 2)),
                                            ("2.json", shard(2, inputs: ["y"], positions: [0], total: 2))])
        #expect(merged["inputs"]?.arrayValue?.count == 2)
    }
}
