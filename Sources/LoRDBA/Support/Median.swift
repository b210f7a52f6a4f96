/// The one median of this package: the middle value, or the mean of the two middle values when
/// the count is even (what reports, validation summaries and benchmarks quote).
public enum Median {
    /// The median of `values`, or `nil` when there are none.
    public static func of<T: BinaryFloatingPoint>(_ values: [T]) -> T? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let n = sorted.count
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}
