/// Every module of a `.lba` prepared for inference: what a device loads once and then calls
/// per layer.
///
/// ```swift
/// let runtime = try LoRDBARuntime(path: "adapter.lba")          // validated before anything runs
/// let q = runtime.index(of: "base_model.model.model.layers.0.self_attn.q_proj")!
/// runtime.apply(module: q, x, tokens: t, into: &y)              // y += ΔŴ·x for each token
/// ```
public struct LoRDBARuntime: Sendable {
    /// The prepared modules, in file order.
    public let modules: [SignGEMM]
    private let indices: [String: Int]

    /// Prepares every module of an already validated file.
    public init(_ file: LBAFile) {
        modules = file.adapter.modules.map(SignGEMM.init)
        var indices: [String: Int] = [:]
        for (i, m) in modules.enumerated() { indices[m.name] = i }
        self.indices = indices
    }

    /// Memory-maps and fully validates `path` (any corruption is reported before any module is
    /// prepared), then prepares every module.
    public init(path: String) throws(LBAError) {
        self.init(try LBAFile(path: path))
    }

    /// The index of the module named `name`.
    public func index(of name: String) -> Int? { indices[name] }

    /// The module named `name`.
    public func module(named name: String) -> SignGEMM? { indices[name].map { modules[$0] } }

    /// Adds module `module`'s branch for Float32 activations (`tokens × in`) to `y` (`tokens × out`).
    public func apply(module: Int, _ x: [Float], tokens: Int, into y: inout [Float], threads: Int = 1) {
        modules[module].apply(x, tokens: tokens, into: &y, threads: threads)
    }

    /// Adds module `module`'s branch for Float16 activations to `y`.
    public func apply(module: Int, _ x: [Float16], tokens: Int, into y: inout [Float], threads: Int = 1) {
        modules[module].apply(x, tokens: tokens, into: &y, threads: threads)
    }

    /// Sign bytes read per token over all modules.
    public var signBytes: Int { modules.reduce(0) { $0 + $1.signBytes } }
}
