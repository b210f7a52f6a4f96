/// Recognises adapters that are not LoRA factor pairs by their tensor names, so the error can
/// say which algorithm a file holds instead of "no LoRA factor": LyCORIS (LoHa, LoKr, IA3,
/// GLoRA, OFT/BOFT, full and norm diffs) and PEFT's other tuners (IA3, VeRA, AdaLoRA, OFT/BOFT, HRA).
enum AdapterAlgorithms {
    /// Path components that mark an algorithm when they are among a tensor name's last three
    /// (followed at most by an adapter name and `weight`): `….hada_w1_a`, `….ia3_l.default`.
    static let nearEndMarkers: [String: String] = [
        "hada_w1_a": "LoHa", "hada_w1_b": "LoHa", "hada_w2_a": "LoHa", "hada_w2_b": "LoHa",
        "hada_t1": "LoHa", "hada_t2": "LoHa",
        "lokr_w1": "LoKr", "lokr_w2": "LoKr", "lokr_w1_a": "LoKr", "lokr_w1_b": "LoKr",
        "lokr_w2_a": "LoKr", "lokr_w2_b": "LoKr", "lokr_t2": "LoKr",
        "ia3_l": "IA3 ((IA)³)", "oft_blocks": "OFT", "oft_diag": "OFT", "oft_r": "OFT", "oft_R": "OFT",
        "boft_R": "BOFT", "boft_s": "BOFT", "vera_lambda_b": "VeRA", "vera_lambda_d": "VeRA",
        "lora_E": "AdaLoRA", "hra_u": "HRA",
    ]

    /// Components that mark an algorithm only as a tensor name's last one (LyCORIS writes
    /// `<module>.diff`, `<module>.on_input`, …; in the middle of a path they are ordinary names).
    static let lastMarkers: [String: String] = [
        "on_input": "IA3 ((IA)³)", "diff": "full weight-diff (LyCORIS full)", "diff_b": "full weight-diff (LyCORIS full)",
        "w_norm": "norm-layer diff (LyCORIS norms)", "b_norm": "norm-layer diff (LyCORIS norms)",
    ]

    /// GLoRA's four factors of one module: `<module>.a1.weight`, `.a2.weight`, `.b1.weight`, `.b2.weight`.
    static let gloraSuffixes = [".a1.weight", ".a2.weight", ".b1.weight", ".b2.weight"]

    /// The algorithm `names` show and the first tensor (in name order) showing it, or `nil`.
    /// Pass only tensors that are not LoRA factors, so module paths never trigger a match.
    static func detect(_ names: [String]) -> (algorithm: String, tensor: String)? {
        let all = Set(names)
        for name in names.sorted() {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count > 1 else { continue }
            if let algorithm = lastMarkers[parts[parts.count - 1]] { return (algorithm, name) }
            for part in parts.dropFirst().suffix(3) {
                if let algorithm = nearEndMarkers[part] { return (algorithm, name) }
            }
            if name.hasSuffix(gloraSuffixes[0]) {
                let stem = String(name.dropLast(gloraSuffixes[0].count))
                if gloraSuffixes.allSatisfy({ all.contains(stem + $0) }) { return ("GLoRA", name) }
            }
        }
        return nil
    }
}
