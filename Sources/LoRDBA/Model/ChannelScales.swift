/// The channel-wise magnitudes of a binary module: `ΔW·x ≈ b ⊙ S_Bᵀ·(m ⊙ S_A·(a ⊙ x))`.
///
/// `input` (a, one per input feature) and `output` (b, one per output feature) are stored
/// in a compact dtype (fp16 by default) and normalised to a largest magnitude of 1 so that
/// dtype never overflows or underflows; `middle` (m, one per sign channel) carries every
/// remaining factor, the LoRA scale included, and is stored as fp32.
public struct ChannelScales: Sendable, Equatable {
    /// `a`, length `in`; `nil` for compact scales (all ones).
    public var input: [Float]?
    /// `m`, length `k` (the binary rank).
    public var middle: [Float]
    /// `b`, length `out`.
    public var output: [Float]

    public init(input: [Float]?, middle: [Float], output: [Float]) {
        self.input = input
        self.middle = middle
        self.output = output
    }
}
