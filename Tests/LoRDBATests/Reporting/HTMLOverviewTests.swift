import Foundation
import Testing
@testable import LoRDBA

/// The HTML page a user acts on: an overview with failures and the gate first, a heatmap over
/// the adapter's own error range, and each module's stored error against plain LoRDBA's.
@Suite struct HTMLOverviewTests {
    @Test func batchPagesOpenWithFailuresThenTheGateThenTheInputs() throws {
        let (report, dir) = try ReportTests.report()
        defer { dir.remove() }
        let gate = report.summary.productErrorMedian
        let html = HTMLReport.page([report], failures: [(input: "broken.safetensors", reason: "broken: no tensors")], maxError: gate)
        let overview = try #require(html.range(of: "<h2>Overview</h2>"))
        let failed = try #require(html.range(of: "<h3>Failed inputs</h3>"))
        let gateHeading = try #require(html.range(of: "<h3>Gate: product error at most \(Format.fixed(gate, 3))</h3>"))
        let inputs = try #require(html.range(of: "<h3>Inputs, worst first</h3>"))
        let firstSection = try #require(html.range(of: "<h2>\(HTMLReport.escape(report.input))</h2>"))
        #expect(overview.lowerBound < failed.lowerBound && failed.lowerBound < gateHeading.lowerBound)
        #expect(gateHeading.lowerBound < inputs.lowerBound && inputs.lowerBound < firstSection.lowerBound)
        let above = report.modules.filter { $0.errors.productError > gate }.count
        #expect(above > 0 && html.contains("\(above) modules above the gate (exit status 3)"))
        // One input that passed, no gate: no overview.
        #expect(!HTMLReport.page([report]).contains("<h2>Overview</h2>"))
    }

    @Test func theColourScaleSpansTheAdaptersOwnRange() throws {
        let (report, dir) = try ReportTests.report()
        defer { dir.remove() }
        let errors = report.modules.map(\.errors.productError)
        let scale = ErrorScale(errors)
        #expect(scale.low == errors.min()! && scale.high == errors.max()!)
        #expect(scale.position(errors.min()!) == 0 && scale.position(errors.max()!) == 1)
        // A narrow spread (a 7B adapter's 0.62–0.655) still uses the whole bar.
        let narrow = ErrorScale([0.62, 0.64, 0.655])
        #expect(HTMLReport.colour(narrow.position(0.62)) != HTMLReport.colour(narrow.position(0.655)))
        #expect(narrow.digits == 3)
        let html = HTMLReport.page([report])
        #expect(html.contains(">\(Format.fixed(scale.low, scale.digits))</text>") && html.contains(">\(Format.fixed(scale.high, scale.digits))</text>"))
    }

    @Test func everyModuleIsAPointOfStoredAgainstPlainError() throws {
        let (report, dir) = try ReportTests.report()
        defer { dir.remove() }
        let chart = HTMLCharts.gains(report)
        #expect(chart.components(separatedBy: "<circle data-module=").count - 1 == report.modules.count)
        #expect(chart.contains("plain LoRDBA product error") && chart.contains("stored product error"))
        #expect(!HTMLReport.page([report]).contains("ε = ρ/√(1+ρ²)</text>"))
    }
}
