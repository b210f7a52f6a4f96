import ArgumentParser
import LoRDBA

/// `lordba-bench apply`: one module of a `.lba` run by the Swift runtime on raw Float32 rows, so
/// that another runtime (the Python package's compiled sign GEMM) can be compared with it byte
/// for byte on the same input.
struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Run one module of a .lba on raw Float32 rows with the Swift runtime and write its branch ΔW·x.",
        discussion: """
            INPUT holds T × in little-endian Float32 values (row-major); OUTPUT receives T × out values: \
            b ⊙ S_Bᵀ·(m ⊙ S_A·(a ⊙ x)) for each row, from the sign GEMM (SignGEMM, one thread).
            """)

    @Argument(help: "The .lba file.", completion: .file(extensions: ["lba"]))
    var file: String

    @Option(help: "The module's name in the .lba.")
    var module: String

    @Option(help: "Raw little-endian Float32 input rows (T × in).", completion: .file())
    var input: String

    @Option(help: "Where to write the T × out Float32 outputs.", completion: .file())
    var output: String

    @Flag(help: "Replace an existing output (a regular file only; never an input).")
    var force = false

    func validate() throws {
        if output == file || output == input { throw ValidationError("--output must not name an input (\(output)).") }
    }

    func run() throws {
        let runtime = try LoRDBARuntime(path: file)
        guard let gemm = runtime.module(named: module) else {
            throw ApplyError(description: "\(file): no module named \(module)")
        }
        let data = try MappedFile(path: input)
        let rowBytes = gemm.inFeatures * MemoryLayout<Float>.size
        guard data.count % rowBytes == 0 else {
            throw ApplyError(description: "\(input): \(data.count) bytes is not a whole number of rows of \(gemm.inFeatures) Float32 values")
        }
        let tokens = data.count / rowBytes
        let x = data.withBytes { raw in
            (0..<(tokens * gemm.inFeatures)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        var y = [Float](repeating: 0, count: tokens * gemm.outFeatures)
        gemm.apply(x, tokens: tokens, into: &y, threads: 1)
        let bytes = y.flatMap { value -> [UInt8] in
            let bits = value.bitPattern.littleEndian
            return (0..<4).map { UInt8(truncatingIfNeeded: bits >> ($0 * 8)) }
        }
        try AtomicFile.write(bytes, to: output, overwrite: force)
    }
}

/// Bad input to `apply`: one line naming the file and the problem (exit status 1).
struct ApplyError: Error, CustomStringConvertible {
    let description: String
}
