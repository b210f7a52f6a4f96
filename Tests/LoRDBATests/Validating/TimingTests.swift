import Testing
@testable import LoRDBA

/// `Timing.medians`: every body is warmed up and calibrated on its own, then the samples are
/// taken in turn (one sample of each body per round), which keeps the ratios of a drifting
/// machine meaningful.
@Suite struct TimingTests {
    @Test func samplesOfSeveralBodiesAreTakenInTurn() {
        var log: [Int] = []
        var sink = 0.0
        let bodies: [() -> Void] = (0..<3).map { index in
            {
                log.append(index)
                // Work in proportion to the index, so each body calibrates to its own call count.
                for i in 0..<(2_000 * (index + 1)) { sink += Double(i & 7) }
            }
        }
        let samples = 4
        let times = Timing.medians(samples: samples, minimumSeconds: 0.002, bodies)
        #expect(times.count == 3)
        #expect(times.allSatisfy { $0 > 0 && $0.isFinite })
        #expect(sink > 0)

        // Calibration first: each body's calls form one run before the next body starts.
        var runs: [(body: Int, count: Int)] = []
        for index in log {
            if let last = runs.last, last.body == index { runs[runs.count - 1].count += 1 } else { runs.append((index, 1)) }
        }
        #expect(runs.prefix(3).map(\.body) == [0, 1, 2])
        // Then `samples` rounds of 0, 1, 2, each sample a run of that body's calibrated call count.
        let sampled = Array(runs.suffix(3 * samples))
        #expect(sampled.map(\.body) == Array(repeating: [0, 1, 2], count: samples).flatMap { $0 })
        for body in 0..<3 {
            let counts = Set(sampled.filter { $0.body == body }.map(\.count))
            #expect(counts.count == 1, "body \(body): every sample makes the same number of calls")
        }
    }

    @Test func oneBodyIsTheMedianOfItsSamples() {
        var calls = 0
        let seconds = Timing.median(samples: 3, minimumSeconds: 0.001) { calls += 1 }
        #expect(seconds > 0 && seconds < 0.001)
        #expect(calls > 3)
    }
}
