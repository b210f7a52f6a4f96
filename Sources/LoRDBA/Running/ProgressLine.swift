import Synchronization

/// `--progress`: when the live progress line is drawn on standard error.
public enum ProgressMode: String, Sendable, CaseIterable {
    /// Whenever standard error is a terminal and `-q` was not given (the default).
    case auto
    /// Even when standard error is not a terminal: then a plain line at most every 10 seconds.
    case always
    /// Never.
    case never

    /// Whether the line is drawn, given whether standard error is a terminal and `-q`.
    public func isEnabled(standardErrorIsTerminal: Bool, quiet: Bool) -> Bool {
        switch self {
        case .never: false
        case .always: !quiet
        case .auto: standardErrorIsTerminal && !quiet
        }
    }
}

/// What a run has done so far: the figures one progress line shows.
public struct ProgressSnapshot: Sendable, Equatable {
    /// Inputs finished (converted, skipped or failed) and planned.
    public var inputsDone: Int
    public var inputsTotal: Int
    /// Modules finished so far, over every input.
    public var modulesDone: Int
    /// Input bytes processed (finished inputs whole, running ones by their share of modules done).
    public var bytesDone: Double
    /// Input bytes of every planned input.
    public var bytesTotal: Double
    /// Seconds since the run began.
    public var elapsed: Double

    public init(inputsDone: Int, inputsTotal: Int, modulesDone: Int, bytesDone: Double, bytesTotal: Double, elapsed: Double) {
        self.inputsDone = inputsDone
        self.inputsTotal = inputsTotal
        self.modulesDone = modulesDone
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.elapsed = elapsed
    }

    /// Input megabytes (10⁶ bytes) per second, or nil before anything was measured.
    public var megabytesPerSecond: Double? {
        elapsed > 0 && bytesDone > 0 ? bytesDone / 1e6 / elapsed : nil
    }

    /// Seconds left at the rate so far, or nil when there is no rate yet.
    public var secondsLeft: Double? {
        guard elapsed > 0, bytesDone > 0 else { return nil }
        return Swift.max(0, bytesTotal - bytesDone) * elapsed / bytesDone
    }

    /// The line, e.g. `inputs 2/5 · 84 modules · 3.1 MB/s · ETA 0:42` (no newline or control characters).
    public var line: String {
        var parts = ["inputs \(inputsDone)/\(inputsTotal)", "\(modulesDone) module\(modulesDone == 1 ? "" : "s")"]
        if let rate = megabytesPerSecond {
            parts.append(rate >= 1 ? Format.fixed(rate, rate < 10 ? 1 : 0) + " MB/s" : Format.fixed(rate * 1000, 0) + " kB/s")
        }
        if inputsDone < inputsTotal {
            parts.append("ETA " + (secondsLeft.map(Self.clock) ?? "–"))
        } else {
            parts.append("done in " + Self.clock(elapsed))
        }
        return parts.joined(separator: " · ")
    }

    /// `m:ss`, or `h:mm:ss` from an hour on.
    static func clock(_ seconds: Double) -> String {
        let total = seconds.isFinite ? Int(seconds.rounded()) : 0
        let (h, m, s) = (total / 3600, total / 60 % 60, total % 60)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }
}

/// Counts a run's progress from the conversion hooks (any thread) and, on a terminal, redraws one
/// line through `draw`, at most every `interval` seconds, replacing the previous one (`\r`,
/// erase to the end of the line; ``finish()`` erases it, so the results print on a clean line).
/// Without a terminal it writes a plain `progress: …` line at most every 10 seconds.
public final class ProgressMeter: Sendable {
    private struct State {
        var bytes: [Double]
        var done: [Bool]
        var fraction: [Double]
        var modules = 0
        var lastDraw: ContinuousClock.Instant?
        var drawn = false
    }

    private let state: Mutex<State>
    private let start = ContinuousClock.now
    private let interval: Duration
    private let redraws: Bool
    private let draw: @Sendable (String) -> Void

    /// How often a progress line is written where it cannot be redrawn (a log file, a CI log).
    public static let plainInterval: Duration = .seconds(10)

    /// - Parameters:
    ///   - inputBytes: the size of each planned input, in job order.
    ///   - terminal: whether the line is redrawn in place (a terminal: `\r`, erase to the end of
    ///     the line, every `interval`); otherwise each update is a plain line ending in a newline,
    ///     at most every ``plainInterval``.
    ///   - draw: writes its argument as is (no newline added).
    public init(inputBytes: [Int], terminal: Bool = true, interval: Duration = .milliseconds(200),
                draw: @escaping @Sendable (String) -> Void) {
        state = Mutex(State(bytes: inputBytes.map { Double(Swift.max(0, $0)) }, done: Array(repeating: false, count: inputBytes.count),
                            fraction: Array(repeating: 0, count: inputBytes.count)))
        self.redraws = terminal
        self.interval = terminal ? interval : Swift.max(interval, Self.plainInterval)
        self.draw = draw
    }

    /// Runs `body` (which writes a finished input's line) with the progress line erased, so the
    /// line lands on a clean row; the next update draws the progress line again.
    public func printing(_ body: () -> Void) {
        state.withLock { s in
            if s.drawn && redraws { draw("\r\u{1B}[K") }
            s.drawn = false
            body()
        }
    }

    /// One module of job `job` finished: `done` of `total` in its current pass.
    public func moduleFinished(job: Int, done: Int, total: Int) {
        update { s in
            s.modules += 1
            if total > 0 { s.fraction[job] = Swift.min(1, Double(done) / Double(total)) }
        }
    }

    /// Job `job` finished (converted, skipped or failed).
    public func inputFinished(job: Int) {
        update { s in
            s.done[job] = true
            s.fraction[job] = 1
        }
    }

    /// Job `job` was skipped (`--skip-existing`): done, and its bytes count neither in the rate
    /// nor in the time left.
    public func inputSkipped(job: Int) {
        update { s in
            s.done[job] = true
            s.bytes[job] = 0
        }
    }

    /// The figures now.
    public func snapshot() -> ProgressSnapshot {
        state.withLock { snapshot($0) }
    }

    /// Erases the line, if one was drawn.
    public func finish() {
        state.withLock { s in
            if s.drawn && redraws { draw("\r\u{1B}[K") }
            s.drawn = false
        }
    }

    private func snapshot(_ s: State) -> ProgressSnapshot {
        ProgressSnapshot(
            inputsDone: s.done.filter { $0 }.count, inputsTotal: s.done.count, modulesDone: s.modules,
            bytesDone: zip(s.bytes, s.fraction).reduce(0) { $0 + $1.0 * $1.1 }, bytesTotal: s.bytes.reduce(0, +),
            elapsed: (ContinuousClock.now - start).seconds)
    }

    private func update(_ change: (inout State) -> Void) {
        // Drawn under the lock, so lines from several workers never arrive out of order.
        state.withLock { s in
            change(&s)
            let now = ContinuousClock.now
            // Plain lines start one interval after the run did, not at its first module.
            if let last = s.lastDraw ?? (redraws ? nil : start), now - last < interval { return }
            s.lastDraw = now
            s.drawn = true
            draw(redraws ? "\r\u{1B}[K" + snapshot(s).line : "progress: " + snapshot(s).line + "\n")
        }
    }
}
