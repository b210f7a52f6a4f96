/// The MLX-LM layout (`mlx_lm.lora`): transposed factors `<path>.lora_a` `[in, r]` and
/// `<path>.lora_b` `[r, out]`, one global scale in `adapter_config.json`. Used by the reader
/// (``LayoutReader``) and by the MLX exporter.
enum MLXLayout {
    /// The weights file mlx-lm writes.
    static let weightsName = "adapters.safetensors"
    /// Pickled weights under the same stem (refused unread, see ``PickleCheck``).
    static let pickledName = "adapters.bin"
    /// mlx-lm's config beside the weights.
    static let configName = "adapter_config.json"
    /// The factor suffixes.
    static let aSuffix = ".lora_a", bSuffix = ".lora_b"
    /// The suffix of a DoRA layer's magnitude (`<path>.m`).
    static let magnitudeSuffix = ".m"
    /// MLX-LM's default `scale` when the config does not give one.
    static let defaultScale = 20.0

    /// The config members the reader and the exporter use.
    enum ConfigKey {
        static let loraParameters = "lora_parameters"
        static let scale = "scale"
    }

    /// Last path components MLX-LM gives embedding layers; MLX files do not otherwise say
    /// whether a factor pair adapts an embedding.
    static let embeddingNames: Set<String> = ["embed_tokens", "tok_embeddings", "wte", "word_embeddings", "embedding", "embeddings"]

    /// The factor suffixes, as name patterns for ``LayoutReader``.
    static let namePatterns: [LayoutReader.NamePattern] = [
        .init(suffix: aSuffix, layout: .mlx, role: .a, embedding: false, partner: bSuffix),
        .init(suffix: bSuffix, layout: .mlx, role: .b, embedding: false, partner: aSuffix),
    ]
}

/// The MLX-LM scale: `lora_parameters.scale`, used as is.
enum MLXScaleRule {
    /// The scale and, when the default was used, a note saying why.
    static func scale(config: JSONValue?, path: String?) throws(AdapterError) -> (Double, String?) {
        guard let config, let path else {
            return (MLXLayout.defaultScale, "no \(MLXLayout.configName) found; using the MLX-LM default scale \(MLXLayout.defaultScale)")
        }
        var root = try AdapterConfigFile.reader(config, path: path)
        guard var parameters = try root.optionalObject(MLXLayout.ConfigKey.loraParameters, context: MLXLayout.ConfigKey.loraParameters + ".") else {
            return (MLXLayout.defaultScale, "\(path) has no lora_parameters; using the MLX-LM default scale \(MLXLayout.defaultScale)")
        }
        guard let scale = try parameters.optionalNumber(MLXLayout.ConfigKey.scale) else {
            return (MLXLayout.defaultScale, "\(path) has no lora_parameters.scale; using the MLX-LM default scale \(MLXLayout.defaultScale)")
        }
        return (scale, nil)
    }
}
