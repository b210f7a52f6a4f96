#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local Hugging Face Hub cache: `models--org--name/snapshots/<commit>/` folders, found under
/// `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub` (the Hub's own rules).
/// Nothing is downloaded: a repository that is not in the cache is an error saying so.
public enum HubCache {
    /// The scheme of a Hub reference: `hf://org/name` or `hf://org/name@revision`.
    public static let scheme = "hf://"

    /// Why a Hub reference cannot be used.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// The cache folder, from the environment (`HF_HUB_CACHE`, `HF_HOME`, `HOME`).
    public static func root(environment: (String) -> String? = Environment.value) -> String {
        if let cache = environment("HF_HUB_CACHE"), !cache.isEmpty { return cache }
        if let home = environment("HF_HOME"), !home.isEmpty { return FileSystem.join(home, "hub") }
        return FileSystem.join(environment("HOME") ?? "~", ".cache/huggingface/hub")
    }

    /// `argument` itself, or for `hf://org/name[@revision]` the snapshot folder in the cache
    /// (revision: a branch or tag under `refs/`, or a commit; default `main`).
    public static func resolve(_ argument: String, root: String = HubCache.root()) throws(Problem) -> String {
        guard argument.hasPrefix(scheme) else { return argument }
        let reference = argument.dropFirst(scheme.count)
        let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
        let repository = parts.first ?? ""
        let revision = parts.count > 1 ? parts[1] : "main"
        guard repository.split(separator: "/").count == 2 else {
            throw Problem(description: "\(argument): give hf://org/name or hf://org/name@revision")
        }
        let folder = FileSystem.join(root, "models--" + repository.replacing("/", with: "--"))
        guard FileSystem.kind(of: folder) == .directory else {
            throw Problem(description: "\(argument): \(repository) is not in the local Hub cache (\(root)); download it first (huggingface-cli download \(repository)), nothing is fetched from the network")
        }
        let ref = String(decoding: FileSystem.prefix(of: FileSystem.join(folder, "refs/" + revision), count: 256), as: UTF8.self)
            .trimmingWhitespace()
        let commit = ref.isEmpty ? revision : ref
        let snapshot = FileSystem.join(folder, "snapshots/" + commit)
        guard !commit.contains("/"), FileSystem.kind(of: snapshot) == .directory else {
            throw Problem(description: "\(argument): revision \(revision) of \(repository) is not in the local Hub cache (\(folder))")
        }
        return snapshot
    }

    /// `org/name` when `path` lies inside a cache snapshot (`…/models--org--name/snapshots/<commit>/…`).
    public static func repository(containing path: String) -> String? {
        let parts = path.split(separator: "/")
        guard let i = parts.lastIndex(where: { $0.hasPrefix("models--") }), i + 2 < parts.count,
              parts[i + 1] == "snapshots" else { return nil }
        let name = Array(parts[i].dropFirst("models--".count))
        guard let dash = name.indices.dropLast().first(where: { name[$0] == "-" && name[$0 + 1] == "-" }) else { return nil }
        return String(name[..<dash]) + "/" + String(name[(dash + 2)...])
    }

    /// The base model's `config.json` in the cache for `model` (`base_model_name_or_path`, an
    /// `org/name`): the snapshot `refs/main` names, else the first snapshot (by name) that has one.
    public static func baseConfig(for model: String, root: String = HubCache.root()) -> String? {
        guard model.split(separator: "/").count == 2, !model.hasPrefix("/"), !model.hasPrefix(".") else { return nil }
        if let snapshot = try? resolve(scheme + model, root: root) {
            let config = FileSystem.join(snapshot, "config.json")
            if FileSystem.kind(of: config) == .regular { return config }
        }
        let snapshots = FileSystem.join(root, "models--" + model.replacing("/", with: "--") + "/snapshots")
        for commit in FileSystem.entries(of: snapshots).sorted() {
            let config = FileSystem.join(FileSystem.join(snapshots, commit), "config.json")
            if FileSystem.kind(of: config) == .regular { return config }
        }
        return nil
    }
}

/// Reading the process environment.
public enum Environment {
    /// The variable's value, or nil when unset.
    public static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}

extension String {
    /// Without leading and trailing spaces and newlines.
    func trimmingWhitespace() -> String {
        let characters = Array(self)
        guard let first = characters.firstIndex(where: { !$0.isWhitespace }),
              let last = characters.lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(characters[first...last])
    }
}
