import Foundation
import Testing
@testable import LoRDBA

/// Shared helpers for the reading tests: sample paths, temp directories and hand-made files.
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

    /// Deterministic pseudo-random values in [-1, 1) (no Foundation randomness, so failures reproduce).
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Float(Int(state % 2001) - 1000) / 1000
        }
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

/// A fresh directory under the system temp directory; a test removes it with `defer { dir.remove() }`
/// (an explicit call, so the directory cannot vanish before the test's last use of a path in it).
final class TempDir {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "lordba-reading-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = path + "/" + name
        precondition(FileManager.default.createFile(atPath: file, contents: Data(bytes)), "cannot write \(file)")
        return file
    }

    @discardableResult
    func write(_ name: String, text: String) -> String { write(name, Array(text.utf8)) }

    @discardableResult
    func writeTensors(_ name: String, _ tensors: [ReadingFixtures.Tensor], metadata: [String: String]? = nil) -> String {
        write(name, SafeTensorsWriter.serialize(tensors, metadata: metadata))
    }

    func mkdir(_ name: String) -> String {
        let dir = path + "/" + name
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
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
