/// The version of the lordba tools, recorded in every `.lba` they write (`lordba.tool_version`)
/// and printed by the tools; one constant so every place agrees.
public enum ToolVersion {
    /// Semantic version of this build of the tools.
    public static let current = "0.2.0"
}
