/// The member names of the `.lba` table (`formats/lba.md` §5), spelled once for the writer
/// (`LBAWriter.table`) and the reader (`TableReader`).
enum LBATableKey {
    // Top level.
    static let format = "format"
    static let version = "version"
    static let layout = "layout"
    static let scaleDType = "scale_dtype"
    static let metadata = "metadata"
    static let modules = "modules"
    static let carried = "carried"
    static let sections = "sections"

    /// A module entry (`modules[i]`).
    enum Module {
        static let name = "name"
        static let kind = "kind"
        /// A conv module's kernel sizes.
        static let kernel = "kernel"
        static let inFeatures = "in"
        static let outFeatures = "out"
        static let rank = "rank"
        static let binaryRank = "binary_rank"
        static let loraScale = "lora_scale"
        /// The tensors the module came from (``Source``).
        static let source = "source"
        /// DoRA: the carried magnitude (``Dora``), format 1.1.
        static let dora = "dora"
        /// Section indices by content name (`sign_a`, …).
        static let sections = "sections"
    }

    /// A module's `source` object.
    enum Source {
        static let a = "a"
        static let b = "b"
        static let alpha = "alpha"
        static let dtype = "dtype"
    }

    /// A module's `dora` object.
    enum Dora {
        static let magnitude = "magnitude"
    }

    /// A carried tensor entry (`carried[i]`).
    enum Carried {
        static let name = "name"
        static let dtype = "dtype"
        static let shape = "shape"
        /// Format 1.1.
        static let role = "role"
        static let section = "section"
    }

    /// A section entry (`sections[i]`).
    enum Section {
        static let content = "content"
        /// The owner of a carried tensor's section.
        static let tensor = "tensor"
        /// The owner of every other section.
        static let module = "module"
        static let offset = "offset"
        static let length = "length"
        static let decodedLength = "decoded_length"
        static let encoding = "encoding"
        static let crc32c = "crc32c"
    }
}
