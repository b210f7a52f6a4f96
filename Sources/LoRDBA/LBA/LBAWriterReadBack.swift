extension LBAWriter {
    /// Reads the table about to be written with the reader's own rules (``TableReader``, on
    /// the serialized bytes, as a reader parses them), so that whatever the writer accepts its
    /// reader reads: a table the reader would refuse is an error here, before anything is
    /// written, never a file that `inspect` or `lordba-validate` then refuses.
    /// - Throws: `LBAError.invalidAdapter` naming the table entry and the reader's objection.
    static func checkReadable(_ table: JSONValue, minor: Int, path: String) throws(LBAError) {
        let bytes = table.serializedBytes()
        do {
            let json = try bytes.withUnsafeBytes { raw throws(JSONError) in try JSONParser.parse(raw) }
            _ = try TableReader(path: path, version: LBAVersion(major: LBAFormat.majorVersion, minor: minor)).read(json)
        } catch let error as LBAError {
            if case .table(_, let context, let problem) = error {
                throw .invalidAdapter(path: path, context: context, problem: "its reader would refuse the table: \(problem)")
            }
            throw .invalidAdapter(path: path, context: "table", problem: "its reader would refuse the table: \(error.description)")
        } catch {
            throw .invalidAdapter(path: path, context: "table", problem: "the table is not valid JSON: \(error)")
        }
    }
}
