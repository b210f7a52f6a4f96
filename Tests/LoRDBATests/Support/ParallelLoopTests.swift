import Glibc
import Synchronization
import Testing
@testable import LoRDBA

@Suite struct ParallelLoopTests {
    struct Failure: Error, Equatable { var index: Int }

    @Test(arguments: [1, 2, 7])
    func mapKeepsIndexOrderAtAnyThreadCount(threads: Int) {
        let squares = ParallelLoop.map(count: 1000, threads: threads) { $0 * $0 }
        #expect(squares == (0..<1000).map { $0 * $0 })
        #expect(ParallelLoop.map(count: 0, threads: threads) { $0 }.isEmpty)
    }

    /// A loop inside a loop's worker (a module's own threads) runs on more than the calling
    /// thread: Dispatch alone would run it serially there. Each inner step waits for the other
    /// to start, which only works if they run at once.
    @Test func nestedLoopsRunInParallel() {
        let results = ParallelLoop.map(count: 2, threads: 2) { outer -> Bool in
            let started = Atomic<Int>(0)
            let met = ParallelLoop.map(count: 2, threads: 2) { _ -> Bool in
                started.add(1, ordering: .relaxed)
                for _ in 0..<2000 {   // up to 2 s
                    if started.load(ordering: .relaxed) == 2 { return true }
                    usleep(1000)
                }
                return false
            }
            return met.allSatisfy { $0 }
        }
        #expect(results == [true, true])
    }

    @Test(arguments: [1, 2, 7])
    func mapThrowsTheLowestFailingIndex(threads: Int) {
        #expect(throws: Failure(index: 13)) {
            _ = try ParallelLoop.map(count: 200, threads: threads) { (i) throws(Failure) -> Int in
                if i % 13 == 0, i > 0 { throw Failure(index: i) }
                return i
            }
        }
    }
}

@Suite struct MedianTests {
    @Test func middleValueOrMeanOfTheTwoMiddleValues() {
        #expect(Median.of([Double]()) == nil)
        #expect(Median.of([3.0]) == 3)
        #expect(Median.of([5.0, 1, 3]) == 3)
        #expect(Median.of([4.0, 1, 3, 2]) == 2.5)
        #expect(Median.of([Float(2), 8]) == 5)
    }
}
