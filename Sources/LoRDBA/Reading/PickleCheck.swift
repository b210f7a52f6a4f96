/// Recognises pickled PyTorch checkpoints (`adapter_model.bin`, `.pt`, `.ckpt`, …) so they can be
/// refused with a useful message. Nothing is ever unpickled: unpickling runs arbitrary code.
///
/// A checkpoint is recognised by content first (the zip archive `torch.save` writes since
/// PyTorch 1.6, or a raw pickle stream, protocol 2 to 5, as older versions and `pickle.dump`
/// write) and, for a file whose first bytes look like neither safetensors nor anything else
/// known, by its extension.
enum PickleCheck {
    /// File extensions PyTorch checkpoints and pickles are saved under.
    static let extensions: Set<String> = ["bin", "pt", "pth", "ckpt", "pkl", "pickle"]

    /// Weights names the training libraries give pickled adapters, looked for in a folder that
    /// holds no `.safetensors` file.
    static let standardNames = [PEFTLayout.pickledName, DiffusersLayout.pickledName, MLXLayout.pickledName]

    /// Why the file at `path` is taken for a pickle (for the error message), or `nil`.
    static func evidence(path: String) -> String? {
        let head = FileSystem.prefix(of: path, count: 9)
        if let content = evidence(head: head) { return content }
        // A safetensors file starts with an 8-byte header length and then `{`.
        if head.count == 9, head[8] == UInt8(ascii: "{") { return nil }
        if let ext = fileExtension(path), extensions.contains(ext) {
            return "the file is named .\(ext)"
        }
        return nil
    }

    /// What the first bytes of a file show, or `nil` when they are not a checkpoint's.
    static func evidence(head: [UInt8]) -> String? {
        if head.count >= 4, head[0] == 0x50, head[1] == 0x4B, head[2] == 0x03, head[3] == 0x04 {
            return "the file is a zip archive (torch.save format)"
        }
        if head.count >= 2, head[0] == 0x80, (2...5).contains(head[1]) {
            return "the file is a pickle stream (protocol \(head[1]))"
        }
        return nil
    }

    /// The extension of the last path component, lower-cased, or `nil`.
    static func fileExtension(_ path: String) -> String? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        return String(name[name.index(after: dot)...]).lowercased()
    }

    /// The safetensors file the conversion command writes: `path` with its extension replaced.
    static func safetensorsPath(for path: String) -> String {
        if let ext = fileExtension(path) { return String(path.dropLast(ext.count + 1)) + ".safetensors" }
        return path + ".safetensors"
    }

    /// The one-line shell command that turns the checkpoint at `path` into safetensors with
    /// PyTorch (`weights_only=True` refuses pickles that hold anything but tensors). Paths with
    /// quotes, `$`, backquotes or backslashes are left as `IN`/`OUT` for the user to fill in.
    static func conversionCommand(for path: String) -> String {
        let unsafe = path.unicodeScalars.contains { "'\"$`\\".unicodeScalars.contains($0) || $0.value < 0x20 }
        let input = unsafe ? "IN" : path
        let output = unsafe ? "OUT.safetensors" : safetensorsPath(for: path)
        return "python -c \"import torch, safetensors.torch as st; "
            + "st.save_file({k: v.detach().clone().contiguous() for k, v in torch.load('\(input)', map_location='cpu', weights_only=True).items()}, '\(output)')\""
    }
}
