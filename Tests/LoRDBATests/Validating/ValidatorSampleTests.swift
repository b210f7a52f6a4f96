import Foundation
import Testing
@testable import LoRDBA

/// Validator on the converted tiny LLaMA sample: fidelity within sampling noise, the JSON fields, the text report.
@Suite struct ValidatorSampleTests {
    @Test(.tags(.slow), .slowNumeric) func sampleValidatesAndFidelityMatchesTheProductErrorWithinSamplingNoise() throws {
        let file = try LBAFile(bytes: ValidatorFixtures.lbaBytes, path: "tiny.lba")
        let reference = try AdapterSource.open(ValidatorFixtures.sample)
        let tokens = 128
        let result = try Validator.validate(file: file, path: "tiny.lba", reference: reference,
                                            options: ValidatorFixtures.options(tokens: tokens, reference: true))
        #expect(result.status == .passed)
        #expect(result.modules.count == 28)
        #expect(result.kernelDifferenceMax < 1e-6)
        var zScores: [Double] = []
        for (m, binary) in zip(result.modules, file.adapter.modules) {
            let lora = try reference.load(try #require(reference.modules.first { $0.name == m.name }))
            let pe = try #require(m.productError)
            let fidelity = try #require(m.fidelity)
            #expect(abs(pe - ErrorAnalysis.analyze(original: lora, binary: binary).productError) < 1e-12)
            // Exact standard deviation of the estimate N/D, N = Σ‖E x‖², D = Σ‖W x‖² over T
            // Gaussian x (delta method), from the low-rank factors of W = sBA and E = W − B̂Â.
            let sd = SamplingNoise.ratioStandardDeviation(lora: lora, binary: binary, tokens: tokens)
            zScores.append((fidelity * fidelity - pe * pe) / sd)
        }
        // 28 modules: |z| < 4.5 fails by chance with probability ≈ 28 · 7e-6.
        #expect(zScores.allSatisfy { abs($0) < 4.5 }, "z-scores \(zScores.map { Format.fixed($0, 2) })")
        // And the z-scores look like noise, not bias: their mean over 28 modules is within 3/√28·√(shared-input factor).
        let mean = zScores.reduce(0, +) / Double(zScores.count)
        #expect(abs(mean) < 2, "mean z \(mean)")
    }

    @Test func jsonHasTheDocumentedFields() throws {
        let file = try LBAFile(bytes: ValidatorFixtures.lbaBytes, path: "tiny.lba")
        let reference = try AdapterSource.open(ValidatorFixtures.sample)
        var options = ValidatorFixtures.options(tokens: 8, reference: true, timing: true)
        options.maxError = 0.7
        let result = try Validator.validate(file: file, path: "tiny.lba", reference: reference, options: options)
        let text = ValidationReport.json(result).serialized(indent: 2)
        let json = try JSONParser.parse(text)
        #expect(json["tool"]?.stringValue == "lordba-validate")
        #expect(json["file"]?.stringValue == "tiny.lba")
        #expect(json["reference"]?.stringValue == ValidatorFixtures.sample)
        #expect(json["options"]?["tokens"]?.integerValue == 8)
        #expect(json["options"]?["seed"]?.integerValue == 7)
        #expect(json["options"]?["threads"]?.integerValue == 2)
        #expect(json["options"]?["tolerance"]?.doubleValue == 1e-5)
        #expect(json["options"]?["max_error"]?.doubleValue == 0.7)
        // With 8 tokens some fidelity is above 0.7: the status says so, with the modules.
        #expect(json["status"]?.stringValue == result.status.name)
        #expect(json["exit_code"]?.integerValue == Int64(result.status.exitCode))
        #expect(json["failing_modules"]?.arrayValue?.count == ValidationReport.failingNames(result.status).count)
        let totals = try #require(json["totals"])
        #expect(totals["modules"]?.integerValue == 28)
        for key in ["kernel_difference_max", "fidelity", "fidelity_median", "fidelity_max", "product_error_median"] {
            #expect(totals[key]?.doubleValue != nil, "totals.\(key)")
        }
        let modules = try #require(json["modules"]?.arrayValue)
        #expect(modules.count == 28)
        for m in modules {
            #expect(m["name"]?.stringValue != nil)
            #expect(m["kind"]?.stringValue == "linear")
            for key in ["in", "out", "rank", "binary_rank"] { #expect(m[key]?.integerValue != nil, "\(key)") }
            for key in ["kernel_difference", "kernel_difference_f16", "fidelity", "product_error"] {
                #expect(m[key]?.doubleValue != nil, "\(key)")
            }
            #expect(m["kernel_ok"]?.boolValue == true)
            #expect(m["fidelity_ok"]?.boolValue != nil)
        }
        let speed = try #require(json["speed"])
        #expect(speed["openblas"] != nil && speed["openblas_problem"] != nil)
        let shapes = try #require(speed["shapes"]?.arrayValue)
        #expect(shapes.count == 3)
        #expect(shapes.reduce(0) { $0 + Int($1["modules"]?.integerValue ?? 0) } == 28)
        for shape in shapes {
            let points = try #require(shape["points"]?.arrayValue)
            #expect(points.map { $0["tokens"]?.integerValue } == [1, 8])
            for p in points {
                for key in ["sign_seconds", "dense_seconds", "sign_over_dense"] { #expect((p[key]?.doubleValue ?? -1) > 0, "\(key)") }
                #expect(["openblas", "swift"].contains(p["dense_backend"]?.stringValue ?? ""))
                #expect(p["base_seconds"] != nil && p["overhead"] != nil)
            }
        }
        #expect(speed["totals"]?.arrayValue?.count == 2)

        // Without a reference and without timing the optional members are null.
        let bare = try Validator.validate(file: file, path: "tiny.lba", reference: nil,
                                          options: ValidatorFixtures.options(tokens: 2, reference: false))
        let bareJSON = try JSONParser.parse(ValidationReport.json(bare).serialized())
        #expect(bareJSON["reference"] == .null)
        #expect(bareJSON["speed"] == .null)
        #expect(bareJSON["totals"]?["fidelity"] == .null)
        #expect(bareJSON["modules"]?.arrayValue?.first?["fidelity_ok"] == .null)
        #expect(bareJSON["status"]?.stringValue == "passed")
    }

    @Test func textReportNamesEveryModuleAndTheVerdict() throws {
        let file = try LBAFile(bytes: ValidatorFixtures.lbaBytes, path: "tiny.lba")
        let result = try Validator.validate(file: file, path: "tiny.lba", reference: nil,
                                            options: ValidatorFixtures.options(tokens: 3, reference: false))
        let text = ValidationReport.text(result)
        for m in file.adapter.modules { #expect(text.contains(m.name)) }
        #expect(text.contains("status    ok"))
        #expect(text.contains("fidelity  not measured"))
        #expect(!text.split(separator: "\n").contains { $0.hasSuffix(" ") })
    }
}

/// Sampling noise of the fidelity estimate, from low-rank factors.
enum SamplingNoise {
    /// Standard deviation of `N/D` with `N = Σ_t ‖E x_t‖²`, `D = Σ_t ‖W x_t‖²`, `x_t` standard
    /// normal, `W = s·B·A`, `E = W − B̂·Â`, by the delta method:
    /// `Var(N/D)/R² = Var N/N̄² + Var D/D̄² − 2 Cov(N, D)/(N̄ D̄)`, with `N̄ = T‖E‖²`,
    /// `Var N = 2T tr((EᵀE)²)`, `Cov = 2T tr(EᵀE WᵀW)` (Gaussian quadratic forms).
    static func ratioStandardDeviation(lora: LoRAModule, binary: BinaryModule, tokens: Int) -> Double {
        // W = Uwᵀ·Vw with Uw = (s·B)ᵀ (r × out), Vw = A (r × in); E = Ueᵀ·Ve with Ue = [(s·B)ᵀ; −B̂ᵀ], Ve = [A; Â].
        var uw = lora.b.transposed()
        for i in uw.values.indices { uw.values[i] *= Float(lora.scale) }
        let hat = binary.effectiveFactors()
        var bHat = hat.bTransposed
        for i in bHat.values.indices { bHat.values[i] = -bHat.values[i] }
        let ue = stack(uw, bHat)
        let vw = lora.a
        let ve = stack(lora.a, hat.a)
        let m = ue.rows, r = uw.rows
        let uue = SmallLinearAlgebra.rowDots(ue, ue), vve = SmallLinearAlgebra.rowDots(ve, ve)
        let uuw = SmallLinearAlgebra.rowDots(uw, uw), vvw = SmallLinearAlgebra.rowDots(vw, vw)
        let vew = SmallLinearAlgebra.rowDots(ve, vw), vwe = SmallLinearAlgebra.rowDots(vw, ve)
        /// Row-major product of `a` (p × q) and `b` (q × s).
        func product(_ a: [Double], _ b: [Double], _ p: Int, _ q: Int, _ s: Int) -> [Double] {
            var out = [Double](repeating: 0, count: p * s)
            for i in 0..<p { for k in 0..<q { for j in 0..<s { out[i * s + j] += a[i * q + k] * b[k * s + j] } } }
            return out
        }
        func trace(_ a: [Double], _ n: Int) -> Double { (0..<n).reduce(0) { $0 + a[$1 * n + $1] } }
        let ee = product(uue, vve, m, m, m)                     // ~ EᵀE (similar: same traces of powers)
        let ww = product(uuw, vvw, r, r, r)
        let normE = trace(ee, m)                                // ‖E‖²
        let normW = trace(ww, r)                                // ‖W‖²
        let trEE = trace(product(ee, ee, m, m, m), m)           // tr((EᵀE)²)
        let trWW = trace(product(ww, ww, r, r, r), r)           // tr((WᵀW)²)
        let trEW = trace(product(product(uue, vew, m, m, r), product(uuw, vwe, r, r, m), m, r, m), m)  // tr(EᵀE·WᵀW)
        let t = Double(tokens)
        let ratio = normE / normW
        let relativeVariance = (2 * trEE) / (t * normE * normE) + (2 * trWW) / (t * normW * normW)
            - 2 * (2 * trEW) / (t * normE * normW)
        return ratio * Swift.max(relativeVariance, 0).squareRoot()
    }

    /// The rows of `a` followed by the rows of `b`.
    static func stack(_ a: Matrix, _ b: Matrix) -> Matrix {
        Matrix(rows: a.rows + b.rows, cols: a.cols, values: a.values + b.values)
    }
}
