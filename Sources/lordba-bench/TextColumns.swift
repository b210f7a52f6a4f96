/// Padding for the benchmarks' aligned text columns.
extension String {
    /// `self` followed by spaces up to `width` characters (at least one space).
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: Swift.max(1, width - count)) }

    /// Spaces up to `width` characters, then `self` (right-aligned numbers).
    func leftPadding(_ width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - count)) + self }
}
