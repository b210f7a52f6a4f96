import Foundation
import Testing
@testable import LoRDBA

/// Shared helpers for the reading tests: sample paths and hand-made safetensors files
/// (written with `TempDir.writeTensors`).
enum ReadingFixtures {
    /// The package root, found from this file's location (`<root>/Tests/LoRDBATests/Reading/…`).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func sample(_ name: String) -> String { packageRoot + "/samples/" + name }

    /// A safetensors file assembled by hand: length prefix (declared or actual), header text, data.
    static func raw(header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> [UInt8] {
        let headerBytes = Array(header.utf8)
        var out: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        out.append(contentsOf: data)
        return out
    }

    /// Deterministic pseudo-random values in [-1, 1], multiples of 1/1000 (the library's
    /// `SeededGenerator`, no Foundation randomness, so failures reproduce).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
    }

    /// Row-major transpose of a `rows × cols` array.
    static func transpose(_ values: [Float], rows: Int, cols: Int) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for c in 0..<cols { out[c * rows + r] = values[r * cols + c] } }
        return out
    }

    typealias Tensor = (name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8])

    /// An F32 (or other float dtype) tensor entry for `SafeTensorsWriter`.
    static func tensor(_ name: String, _ shape: [Int], _ values: [Float], _ dtype: TensorDType = .f32) -> Tensor {
        precondition(values.count == shape.reduce(1, *))
        return (name, dtype, shape, SafeTensorsWriter.encode(values, as: dtype))
    }

    /// A tensor of `shape` filled with seeded values.
    static func tensor(_ name: String, _ shape: [Int], seed: UInt64, _ dtype: TensorDType = .f32) -> Tensor {
        tensor(name, shape, values(shape.reduce(1, *), seed: seed), dtype)
    }
}

/// Runs `body` and returns the typed error it threw, or `nil`.
func caught<E: Error, R>(_ body: () throws(E) -> R) -> E? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// Checks that an error message is one line of the form `<file>: <subject>: <problem>`.
func expectOneLine(_ message: String, file: String, subject: String?, mentions: String? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!message.contains("\n") && !message.contains("\r"), "\(message)", sourceLocation: sourceLocation)
    var prefix = file + ": "
    if let subject { prefix += subject + ": " }
    #expect(message.hasPrefix(prefix), "\(message) should start with \(prefix)", sourceLocation: sourceLocation)
    #expect(message.count > prefix.count, "\(message) has no problem text", sourceLocation: sourceLocation)
    if let mentions {
        #expect(message.contains(mentions), "\(message) should mention \(mentions)", sourceLocation: sourceLocation)
    }
}
