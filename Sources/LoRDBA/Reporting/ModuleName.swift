/// Splits a module path into the layer it belongs to and its type, for grouping in reports.
///
/// `base_model.model.model.layers.3.self_attn.q_proj` → layer 3, type `q_proj`;
/// `bert.encoder.layer.0.attention.self.query` → layer 0, type `query`; kohya's underscored
/// `lora_unet_…_blocks_1_…_to_q` → layer 1, type `to_q`; diffusers'
/// `text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj` → layer 0, type
/// `text_encoder_2.q_proj`. Names without a layer index get `nil`.
public struct ModuleName: Sendable, Equatable {
    public var layer: Int?
    public var type: String

    public init(layer: Int?, type: String) {
        self.layer = layer
        self.type = type
    }

    public init(_ path: String) {
        let parts = path.split(whereSeparator: { $0 == "." }).map(String.init)
        var layer: Int?
        for (i, part) in parts.enumerated() where i + 1 < parts.count {
            if Self.layerWords.contains(part), let n = Int(parts[i + 1]) {
                layer = n
                break
            }
        }
        var type = parts.last ?? path
        // diffusers: the pipeline component tells two text encoders' layer-0 `q_proj` apart.
        if layer != nil, parts.count > 2, DiffusersLayout.components.contains(parts[0]) {
            type = parts[0] + "." + type
        }
        if parts.count <= 1 {
            // kohya: one underscored identifier; the layer is the first number after a block word.
            let pieces = path.split(separator: "_").map(String.init)
            for (i, piece) in pieces.enumerated() where i + 1 < pieces.count {
                if Self.layerWords.contains(piece), let n = Int(pieces[i + 1]) {
                    layer = n
                    break
                }
            }
            if pieces.count >= 2, pieces[pieces.count - 2].count <= 4, Int(pieces[pieces.count - 2]) == nil {
                type = pieces.suffix(2).joined(separator: "_")
            } else {
                type = pieces.last ?? path
            }
        }
        self.layer = layer
        self.type = type
    }

    /// The module path below the layer index: `….layer.3.attention.output.dense` →
    /// `attention.output.dense` (kohya: `…_blocks_1_attentions_0_…_to_q` → `attentions_0_…_to_q`;
    /// diffusers keeps the pipeline component in front, `text_encoder_2.self_attn.q_proj`). A
    /// name without a layer index is returned whole. Within one layer it tells modules apart
    /// where ``type`` (the last component) does not.
    public static func pathBelowLayer(_ name: String) -> String {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 1 {
            for (i, part) in parts.enumerated() where i + 2 < parts.count {
                if layerWords.contains(part), Int(parts[i + 1]) != nil {
                    let below = parts[(i + 2)...].joined(separator: ".")
                    return DiffusersLayout.components.contains(parts[0]) && i > 0 ? parts[0] + "." + below : below
                }
            }
            return name
        }
        let pieces = name.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        for (i, piece) in pieces.enumerated() where i + 2 < pieces.count {
            if layerWords.contains(piece), Int(pieces[i + 1]) != nil {
                return pieces[(i + 2)...].joined(separator: "_")
            }
        }
        return name
    }

    static let layerWords: Set<String> = ["layers", "layer", "h", "blocks", "block", "encoder_layers", "decoder_layers"]
}
