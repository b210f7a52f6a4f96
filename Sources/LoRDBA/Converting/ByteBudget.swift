/// A size target for a whole `.lba` file (`--budget BYTES`, `--size-ratio X`): the converter then
/// chooses each module's binary rank so that the file fits and the error is as small as it can make it.
public enum ByteBudget: Sendable, Equatable {
    /// The file (table, scales, carried tensors included) takes at most this many bytes.
    case bytes(Int)
    /// The file is at least this many times smaller than the same adapter in fp16 (the LoRA
    /// factors and carried tensors at 2 bytes per value: the report's "vs fp16" figure).
    case sizeRatio(Double)

    /// The byte limit for an adapter whose fp16 form takes `fp16Bytes`.
    public func limit(fp16Bytes: Int) -> Int {
        switch self {
        case .bytes(let bytes): bytes
        case .sizeRatio(let ratio): Int((Double(fp16Bytes) / ratio).rounded(.down))
        }
    }
}

/// What the budget allocation minimises over the modules `i`.
public enum BudgetObjective: String, Sendable, CaseIterable {
    /// `Σ_i ‖ΔW_i − ΔŴ_i‖² / ‖ΔW_i‖²`: every module's relative error counts alike (default).
    case relative
    /// `Σ_i ‖ΔW_i − ΔŴ_i‖²`: modules with a larger update count more.
    case absolute
}

/// Chooses one option per module (a binary rank with its bytes and error) to minimise the
/// summed objective within a byte limit.
///
/// Greedy on each module's lower convex hull of (bytes, objective): start every module at its
/// smallest option and repeatedly take the step with the largest objective drop per byte that
/// still fits, until none does. On convex trade-off curves this is the classic optimal
/// rate–distortion allocation up to the last step; ties go to the lower module index, so the
/// result is deterministic.
public enum BudgetAllocator {
    /// One way to store one module.
    public struct Option: Sendable, Equatable {
        /// Sign channels.
        public var binaryRank: Int
        /// Bytes the module takes in the file.
        public var bytes: Int
        /// Its term of the objective.
        public var objective: Double

        public init(binaryRank: Int, bytes: Int, objective: Double) {
            self.binaryRank = binaryRank
            self.bytes = bytes
            self.objective = objective
        }
    }

    /// The binary ranks tried first, in quarters of `r`: `r/4, r/2, 3r/4, r, 3r/2, 2r, 3r`.
    public static let candidateQuarters = [1, 2, 3, 4, 6, 8, 12]

    /// The binary ranks added when the first ones cannot spend the budget: `4r, 6r, 8r`.
    public static let extendedQuarters = [16, 24, 32]

    /// A file lands when it takes at least this share of its limit (within 3 %).
    public static let landing = 0.97

    /// The binary ranks tried for a module of rank `r` from `quarters` (quarters of `r`, rounded
    /// up, at least 1, without repeats).
    public static func candidateRanks(rank r: Int, quarters: [Int] = candidateQuarters) -> [Int] {
        var ranks: [Int] = []
        for q in quarters {
            let k = Swift.max(1, (r * q + 3) / 4)
            if !ranks.contains(k) { ranks.append(k) }
        }
        return ranks
    }

    /// For each module, the index of the chosen option in its list, or `nil` when even the
    /// smallest options exceed `limit`. `references` are assignments that must not be beaten
    /// (e.g. the same binary rank for every module): each one that fits is improved by the same
    /// upgrade rule, and the lowest objective of all wins, so the result is never worse than any
    /// of them.
    public static func allocate(_ options: [[Option]], limit: Int, references: [[Int]] = []) -> [Int]? {
        precondition(options.allSatisfy { !$0.isEmpty }, "every module needs at least one option")
        let hulls = options.map(lowerHull)
        var position = [Int](repeating: 0, count: hulls.count)
        var used = hulls.reduce(0) { $0 + $1[0].option.bytes }
        guard used <= limit else { return nil }
        while true {
            var best: (module: Int, efficiency: Double)?
            for (i, hull) in hulls.enumerated() where position[i] + 1 < hull.count {
                let now = hull[position[i]].option, next = hull[position[i] + 1].option
                let extra = next.bytes - now.bytes
                guard used + extra <= limit else { continue }
                let efficiency = (now.objective - next.objective) / Double(Swift.max(extra, 1))
                if best == nil || efficiency > best!.efficiency { best = (i, efficiency) }
            }
            guard let step = best else { break }
            let now = hulls[step.module][position[step.module]].option
            position[step.module] += 1
            used += hulls[step.module][position[step.module]].option.bytes - now.bytes
        }
        var chosen = improved(hulls.indices.map { hulls[$0][position[$0]].index }, options, limit: limit)
        var objective = total(chosen, options)
        for reference in references where reference.count == options.count && bytes(reference, options) <= limit {
            let candidate = improved(reference, options, limit: limit)
            let value = total(candidate, options)
            if value < objective {
                chosen = candidate
                objective = value
            }
        }
        return chosen
    }

    /// From `start`, repeatedly takes the single-module change with the largest objective drop
    /// per extra byte (any option, not only hull points; a change that also saves bytes first)
    /// that keeps the total within `limit`, until no change lowers the objective.
    static func improved(_ start: [Int], _ options: [[Option]], limit: Int) -> [Int] {
        var chosen = start
        var used = bytes(chosen, options)
        while true {
            var best: (module: Int, option: Int, efficiency: Double)?
            for (i, list) in options.enumerated() {
                let now = list[chosen[i]]
                for (j, option) in list.enumerated() where option.objective < now.objective {
                    let extra = option.bytes - now.bytes
                    guard used + extra <= limit else { continue }
                    let drop = now.objective - option.objective
                    let efficiency = extra <= 0 ? Double.infinity : drop / Double(extra)
                    if best == nil || efficiency > best!.efficiency { best = (i, j, efficiency) }
                }
            }
            guard let step = best else { return chosen }
            used += options[step.module][step.option].bytes - options[step.module][chosen[step.module]].bytes
            chosen[step.module] = step.option
        }
    }

    static func bytes(_ chosen: [Int], _ options: [[Option]]) -> Int {
        zip(options, chosen).reduce(0) { $0 + $1.0[$1.1].bytes }
    }

    static func total(_ chosen: [Int], _ options: [[Option]]) -> Double {
        zip(options, chosen).reduce(0) { $0 + $1.0[$1.1].objective }
    }

    /// The options on the lower convex hull of (bytes, objective), by increasing bytes, each
    /// with its index in `options`. Options that cost more without lowering the objective are dropped.
    static func lowerHull(_ options: [Option]) -> [(index: Int, option: Option)] {
        let sorted = options.enumerated().sorted {
            ($0.element.bytes, $0.element.objective, $0.offset) < ($1.element.bytes, $1.element.objective, $1.offset)
        }
        var hull: [(index: Int, option: Option)] = []
        for (index, option) in sorted {
            if let last = hull.last, option.objective >= last.option.objective { continue }
            while hull.count >= 2 {
                let a = hull[hull.count - 2].option, b = hull[hull.count - 1].option
                // Drop b when it lies on or above the segment from a to the new point.
                let cross = Double(b.bytes - a.bytes) * (option.objective - a.objective)
                    - (b.objective - a.objective) * Double(option.bytes - a.bytes)
                if cross <= 0 { hull.removeLast() } else { break }
            }
            hull.append((index, option))
        }
        return hull
    }
}
