import Testing
@testable import LoRDBA

@Suite struct OpenBLASTests {
    @Test func aMissingLibraryIsReportedNotFatal() {
        #expect(throws: OpenBLAS.Unavailable.self) { _ = try OpenBLAS.load(names: ["libopenblas-does-not-exist.so.9"]) }
        do {
            _ = try OpenBLAS.load(names: ["libopenblas-does-not-exist.so.9"])
        } catch {
            #expect(error.description.contains("OpenBLAS not found"))
            #expect(error.description.contains("libopenblas-does-not-exist.so.9"))
        }
    }

    /// When OpenBLAS is installed, its branch and GEMM agree with the dense reference.
    @Test func branchMatchesTheDenseReferenceWhenInstalled() throws {
        guard let blas = try? OpenBLAS.load() else { return }
        #expect(!blas.config.isEmpty)
        var rng = SeededGenerator(seed: 5)
        let a = rng.gaussianMatrix(rows: 3, cols: 37)
        let b = rng.gaussianMatrix(rows: 29, cols: 3)
        let lora = LoRAModule(name: "m", a: a, b: b, scale: 0.5, source: .init(aTensor: "a", bTensor: "b", dtype: .f32))
        let x = activations(5 * 37, seed: 1)
        var viaBLAS = activations(5 * 29, seed: 2)
        var viaSwift = viaBLAS
        var hidden: [Float] = []
        OpenBLASBranch(blas: blas, lora: lora).apply(x, tokens: 5, into: &viaBLAS, hidden: &hidden)
        DenseLowRank(lora: lora).apply(x, tokens: 5, into: &viaSwift)
        #expect(relativeDifference(viaBLAS, viaSwift) < 1e-6)
        // C = A·Bᵀ for A 2 × 3, B 2 × 3.
        var c: [Float] = [0, 0, 0, 0]
        blas.multiplyTransposed([1, 2, 3, 4, 5, 6], rows: 2, inner: 3, [1, 0, 1, 0, 1, 0], columns: 2, into: &c)
        #expect(c == [4, 2, 10, 5])
    }
}
