import Foundation
import Testing

extension Tag {
    /// Numeric tests that take seconds in a debug build (whole-pipeline runs, large shapes).
    @Tag static var slow: Tag
}

extension Trait where Self == ConditionTrait {
    /// Skips a slow numeric test when `LORDBA_FAST` is set, for a sub-minute inner loop:
    /// `LORDBA_FAST=1 swift test`. CI runs everything. Use together with `.tags(.slow)`.
    static var slowNumeric: Self {
        .enabled(if: ProcessInfo.processInfo.environment["LORDBA_FAST"] == nil,
                 "slow numeric test, skipped because LORDBA_FAST is set")
    }
}
