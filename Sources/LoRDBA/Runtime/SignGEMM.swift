#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One LoRDBA module prepared for inference: the sign GEMM a device runs.
///
/// For activations `X` (`tokens × in`, row-major) it adds the adapter branch to `Y`
/// (`tokens × out`, row-major):
///
/// ```
/// Y[t] += b ⊙ S_Bᵀ·(m ⊙ S_A·(a ⊙ X[t]))
/// ```
///
/// straight from the packed sign bits, which stay packed (one bit per sign, the `.lba` row
/// layout, plus one by-output copy of `S_B` of the same size). Step 1 applies each ±1 by
/// XOR-ing the sign bit into the input's bit pattern, eight lanes at a time; step 2 does the
/// same for fewer than 8 tokens and otherwise looks up 256-entry tables of signed partial sums
/// of 8 channels, built per block of 8 tokens. The scales are fused into the passes. Tokens
/// (prefill) or sign channels and output columns (decode) are spread over threads; any `in`,
/// `out` and binary rank `k` work, tails included. See `formats/kernel.md` for the design and
/// measurements.
///
/// For an `embedding` module the same map computes `ΔWᵀ` applied to a one-hot (or any) vector
/// of length `in`; for a `conv` module it applies to flattened patches of `in = C_in·∏kernel`
/// values (`formats/lba.md`, section 7).
public struct SignGEMM: Sendable {
    /// The module path.
    public let name: String
    /// The kind of layer the module adapts.
    public let kind: ModuleKind
    /// Input features `in`.
    public let inFeatures: Int
    /// Output features `out`.
    public let outFeatures: Int
    /// The binary rank `k`.
    public let binaryRank: Int
    /// The original LoRA rank `r` (informational).
    public let rank: Int
    let storage: PackedModuleStorage

    /// Words of 64 sign bits per row of `S_A` (`⌈in/64⌉`).
    var wordsPerRowA: Int { (inFeatures + 63) / 64 }
    /// Words of 64 sign bits per row of `S_B` (`⌈out/64⌉`).
    var wordsPerRowB: Int { (outFeatures + 63) / 64 }

    /// Prepares `module`: its sign words and scales are copied once into aligned storage.
    public init(_ module: BinaryModule) {
        name = module.name
        kind = module.kind
        inFeatures = module.inFeatures
        outFeatures = module.outFeatures
        binaryRank = module.binaryRank
        rank = module.loraRank
        storage = PackedModuleStorage(module)
    }

    /// Bytes of sign bits of the module as the file stores them (both matrices, row padding included).
    public var signBytes: Int { binaryRank * (wordsPerRowA + wordsPerRowB) * 8 }

    /// The step-1 register tile chosen for this build and machine (see `formats/kernel.md`).
    public static var stepOneTile: String {
        SignKernel.wideTile ? "4 tokens × 2 channels" : "4 tokens × 1 channel"
    }

    /// How step 2 runs for blocks of 8 tokens: `"tables"` (default) or `"xor"` (when
    /// `LORDBA_SIGN_STEP2=xor` is set, for comparison).
    public static var stepTwoMethod: String { SignKernel.step2Tables ? "tables" : "xor" }

    /// How step 1 runs blocks of 8 tokens with at least 8 channels: "tables" (4-bit tables), or
    /// "xor" (`LORDBA_SIGN_STEP1=xor`).
    public static var stepOneMethod: String { SignKernel.step1TablesAllowed ? "tables" : "xor" }

    /// Sign additions per token: `k·(in + out)`.
    public var addsPerToken: Int { binaryRank * (inFeatures + outFeatures) }

    /// Adds the branch for Float32 activations to `y`.
    /// - Parameters:
    ///   - x: `tokens × in` activations, row-major.
    ///   - tokens: number of rows of `x` and `y`.
    ///   - y: `tokens × out` outputs, row-major; the branch is added to what is there.
    ///   - threads: most threads to use (small problems use one).
    public func apply(_ x: [Float], tokens: Int, into y: inout [Float], threads: Int = 1) {
        precondition(tokens >= 0 && x.count == tokens * inFeatures, "x must hold tokens × in values")
        precondition(y.count == tokens * outFeatures, "y must hold tokens × out values")
        guard tokens > 0, binaryRank > 0 else { return }
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                run(float: xb.baseAddress, half: nil, tokens: tokens, y: yb.baseAddress!, threads: threads)
            }
        }
    }

    /// Adds the branch for Float16 activations to `y` (converted exactly, accumulated in Float32).
    /// - Parameters:
    ///   - x: `tokens × in` activations, row-major.
    ///   - tokens: number of rows of `x` and `y`.
    ///   - y: `tokens × out` outputs, row-major; the branch is added to what is there.
    ///   - threads: most threads to use (small problems use one).
    public func apply(_ x: [Float16], tokens: Int, into y: inout [Float], threads: Int = 1) {
        precondition(tokens >= 0 && x.count == tokens * inFeatures, "x must hold tokens × in values")
        precondition(y.count == tokens * outFeatures, "y must hold tokens × out values")
        guard tokens > 0, binaryRank > 0 else { return }
        x.withUnsafeBufferPointer { xb in
            xb.withMemoryRebound(to: UInt16.self) { hb in
                y.withUnsafeMutableBufferPointer { yb in
                    run(float: nil, half: hb.baseAddress, tokens: tokens, y: yb.baseAddress!, threads: threads)
                }
            }
        }
    }

    // MARK: - Scheduling

    /// Below this many sign additions per call one thread is used: waking a second costs more.
    static let parallelWork = 1 << 18
    /// Columns of `in` per step-1 tile, in chunks of 8: 4 rows × 1024 floats = 16 KiB stays in L1.
    static let tileChunks = 128

    private func run(float x: UnsafePointer<Float>?, half h: UnsafePointer<UInt16>?, tokens: Int,
                     y: UnsafeMutablePointer<Float>, threads: Int) {
        let k = binaryRank
        let work = tokens &* addsPerToken
        let workers = work < Self.parallelWork ? 1 : Swift.max(1, threads)
        let z = UnsafeMutablePointer<Float>.allocate(capacity: tokens * k)
        defer { z.deallocate() }
        let context = KernelContext(module: self, storage: storage, x: x, half: h, y: y, z: z, tokens: tokens)
        if workers == 1 || tokens >= 8 * workers {
            // Token blocks: every task runs both steps for its rows, 8 tokens at a time.
            let blocks = (tokens + 7) / 8
            let perTask = workers == 1 ? blocks : Swift.max(1, blocks / (4 * workers))
            let tasks = (blocks + perTask - 1) / perTask
            ParallelLoop.run(count: tasks, threads: workers) { task in
                let first = task * perTask * 8
                context.tokenRange(first..<Swift.min(tokens, first + perTask * 8))
            }
        } else {
            // Few tokens: split sign channels for step 1, then output words for step 2.
            let scratch = context.inputScratch(rows: tokens)
            defer { scratch?.deallocate() }
            let rows = context.rows(0..<tokens, scratch: scratch)
            let channelGroups = Swift.min(workers, (k + 3) / 4)
            let perGroup = ((k + channelGroups - 1) / channelGroups + 3) / 4 * 4
            ParallelLoop.run(count: channelGroups, threads: workers) { g in
                let channels = Swift.min(k, g * perGroup)..<Swift.min(k, (g + 1) * perGroup)
                context.down(rows: rows, tokens: 0..<tokens, channels: channels)
            }
            let words = wordsPerRowB
            let wordGroups = Swift.min(workers, words)
            let perWordGroup = (words + wordGroups - 1) / wordGroups
            ParallelLoop.run(count: wordGroups, threads: workers) { g in
                context.up(tokens: 0..<tokens, words: Swift.min(words, g * perWordGroup)..<Swift.min(words, (g + 1) * perWordGroup))
            }
        }
    }
}

/// The raw pointers of one call, shared by its worker threads; each worker writes disjoint
/// rows of `z` and `y` (token blocks) or disjoint columns (channel and word groups).
private struct KernelContext: @unchecked Sendable {
    let storage: PackedModuleStorage
    let x: UnsafePointer<Float>?
    let half: UnsafePointer<UInt16>?
    let y: UnsafeMutablePointer<Float>
    let z: UnsafeMutablePointer<Float>
    let tokens: Int
    let inFeatures: Int
    let outFeatures: Int
    let k: Int

    init(module: SignGEMM, storage: PackedModuleStorage, x: UnsafePointer<Float>?, half: UnsafePointer<UInt16>?,
         y: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>, tokens: Int) {
        self.storage = storage
        self.x = x
        self.half = half
        self.y = y
        self.z = z
        self.tokens = tokens
        inFeatures = module.inFeatures
        outFeatures = module.outFeatures
        k = module.binaryRank
    }

    /// Input rows ready for step 1 (Float32, input scales applied), `inFeatures` apart.
    struct Rows: @unchecked Sendable {
        let base: UnsafePointer<Float>
    }

    /// Scratch for `rows` prepared rows, or nil when the caller's Float32 rows are used as they are.
    func inputScratch(rows: Int) -> UnsafeMutablePointer<Float>? {
        if x != nil, storage.inputScale == nil { return nil }
        return UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(1, rows * inFeatures))
    }

    /// Rows `range` of the input: the caller's own when no conversion or input scale applies,
    /// else converted into `scratch`.
    func rows(_ range: Range<Int>, scratch: UnsafeMutablePointer<Float>?) -> Rows {
        guard let scratch else { return Rows(base: x! + range.lowerBound * inFeatures) }
        SignKernel.prepare(float: x.map { $0 + range.lowerBound * inFeatures },
                           half: half.map { $0 + range.lowerBound * inFeatures },
                           tokens: range.count, inFeatures: inFeatures, inputScale: storage.inputScale, out: scratch)
        return Rows(base: UnsafePointer(scratch))
    }

    /// Step 1 for `tokens` (rows of `rows` counted from `tokens.lowerBound`) and `channels`.
    func down(rows: Rows, tokens: Range<Int>, channels: Range<Int>) {
        let tail = UnsafeMutablePointer<Float>.allocate(capacity: 4 * 8)
        defer { tail.deallocate() }
        down(rows: rows, tokens: tokens, channels: channels, tail: tail)
    }

    func down(rows: Rows, tokens: Range<Int>, channels: Range<Int>, tail: UnsafeMutablePointer<Float>) {
        var t = tokens.lowerBound
        while t < tokens.upperBound {
            let block = Swift.min(4, tokens.upperBound - t)
            SignKernel.down(x: rows.base + (t - tokens.lowerBound) * inFeatures, stride: inFeatures, tokens: block,
                            inFeatures: inFeatures, signA: storage.signABytes, rowBytes: storage.rowBytesA,
                            channels: channels, middle: storage.middle, z: z + t * k, zStride: k, tail: tail,
                            tileChunks: SignGEMM.tileChunks)
            t += block
        }
    }

    /// Step 2 by XOR for `tokens` and the output words `words`.
    func up(tokens: Range<Int>, words: Range<Int>) {
        let tail = UnsafeMutablePointer<Float>.allocate(capacity: 128)
        defer { tail.deallocate() }
        up(tokens: tokens, words: words, tail: tail)
    }

    func up(tokens: Range<Int>, words: Range<Int>, tail: UnsafeMutablePointer<Float>) {
        var t = tokens.lowerBound
        while t < tokens.upperBound {
            let block = Swift.min(4, tokens.upperBound - t)
            SignKernel.up(z: z + t * k, zStride: k, tokens: block, k: k, signB: storage.signB,
                          wordsPerRow: storage.wordsPerRowB, outFeatures: outFeatures, words: words,
                          scale: storage.output, y: y + t * outFeatures, yStride: outFeatures, tail: tail)
            t += block
        }
    }

    /// Both steps for a range of tokens: blocks of 8 with step 2 by tables, the rest by XOR.
    func tokenRange(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        // Blocks of 8 Float32 rows by tables are read in place; other rows are prepared in scratch.
        let blocksInPlace = SignKernel.step2Tables && SignKernel.step1Tables(k: k) && x != nil && range.count >= 8
        let inputs = blocksInPlace && range.count % 8 == 0 ? nil : inputScratch(rows: Swift.min(8, range.count))
        defer { inputs?.deallocate() }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 128) { tailBuffer in
            let tail = tailBuffer.baseAddress!
            var t = range.lowerBound
            if SignKernel.step2Tables && range.count >= 8 {
                // zT (k vectors of 8 tokens), the tables, and 8 vectors for a partial output block.
                // Step 1's tables are used up before step 2's are built in the same memory.
                let groups = storage.groups
                let tableVectors = Swift.max(groups * 256 + 8, SignKernel.step1TableVectors)
                let count = k + tableVectors
                let raw = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<SIMD8<Float>>.stride, alignment: 64)
                defer { raw.deallocate() }
                let zT = raw.bindMemory(to: SIMD8<Float>.self, capacity: count)
                let tables = zT + k
                let tablesInStep1 = SignKernel.step1Tables(k: k)
                while t + 8 <= range.upperBound {
                    if tablesInStep1, let x {
                        // Float32 rows are read in place, the input scale multiplied in as they are loaded.
                        SignKernel.downTable8(x: x + t * inFeatures, stride: inFeatures, inFeatures: inFeatures,
                                              inputScale: storage.inputScale.map { UnsafePointer($0) },
                                              signA: storage.signABytes, rowBytes: storage.rowBytesA, k: k,
                                              middle: storage.middle, zT: zT, tables: tables, tail: tail)
                    } else if tablesInStep1 {
                        let rows = rows(t..<(t + 8), scratch: inputs)
                        SignKernel.downTable8(x: rows.base, stride: inFeatures, inFeatures: inFeatures, inputScale: nil,
                                              signA: storage.signABytes, rowBytes: storage.rowBytesA, k: k,
                                              middle: storage.middle, zT: zT, tables: tables, tail: tail)
                    } else {
                        let rows = rows(t..<(t + 8), scratch: inputs)
                        down(rows: rows, tokens: t..<(t + 8), channels: 0..<k, tail: tail)
                        for j in 0..<k {
                            var v = SIMD8<Float>()
                            for r in 0..<8 { v[r] = z[(t + r) * k + j] }
                            zT[j] = v
                        }
                    }
                    SignKernel.buildTables(zT: zT, k: k, tables: tables)
                    SignKernel.upTable8(tables: tables, groups: groups, columns: storage.columnsB, outFeatures: outFeatures,
                                        scale: storage.output, y: y + t * outFeatures, yStride: outFeatures,
                                        tail: tables + groups * 256)
                    t += 8
                }
            }
            while t < range.upperBound {
                let rest = t..<Swift.min(range.upperBound, t + 8)
                let rows = rows(rest, scratch: inputs)
                down(rows: rows, tokens: rest, channels: 0..<k, tail: tail)
                up(tokens: rest, words: 0..<storage.wordsPerRowB, tail: tail)
                t = rest.upperBound
            }
        }
    }
}
