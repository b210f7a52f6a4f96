/// A validated `.lba` file, fully decoded.
///
/// Both initializers check everything before returning: signature, version, flags, both
/// CRCs of the preamble and table, every section's CRC, that all padding and reserved bytes
/// are zero, the declared file length, the JSON table (syntax, required members, types,
/// ranges, cross-references), that sections are placed canonically without overlap, that each
/// section's size matches the shapes, that zstd sections decode exactly, and that sign rows
/// have no bits set in their padding. Any problem throws an ``LBAError`` naming the part.
public struct LBAFile: Sendable {
    /// The file's format version.
    public var version: LBAVersion
    /// The decoded adapter: modules (in file order), scales, carried tensors and metadata.
    public var adapter: BinaryAdapter
    /// The sections, in table order.
    public var sections: [LBASectionInfo]
    /// Size of the file in bytes.
    public var fileSize: Int
    /// Length of the JSON table in bytes.
    public var tableLength: Int
    /// The parsed JSON table.
    public var table: JSONValue
    /// DoRA modules (format 1.1 `dora`): module name → name of its carried magnitude tensor.
    public var doraMagnitudes: [String: String] = [:]

    /// Memory-maps `path` and validates and decodes the whole file.
    public init(path: String) throws(LBAError) {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch {
            throw .io(path: path, operation: error.operation, errno: error.errno)
        }
        self = try file.withBytes { (bytes) throws(LBAError) -> LBAFile in
            try LBAReader(bytes: bytes, path: path).read()
        }
    }

    /// Validates and decodes an in-memory file.
    public init(bytes: [UInt8], path: String = "<memory>") throws(LBAError) {
        self = try bytes.withUnsafeBytes { buffer in
            Result { () throws(LBAError) -> LBAFile in try LBAReader(bytes: buffer, path: path).read() }
        }.get()
    }

    init(version: LBAVersion, adapter: BinaryAdapter, sections: [LBASectionInfo], fileSize: Int,
         tableLength: Int, table: JSONValue) {
        self.version = version
        self.adapter = adapter
        self.sections = sections
        self.fileSize = fileSize
        self.tableLength = tableLength
        self.table = table
    }
}
