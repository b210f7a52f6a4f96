/// A minimal GGUF version 3 writer (the llama.cpp container), written from the public format
/// description: little-endian; header `GGUF`, version, tensor count, key-value count; typed
/// key-values; tensor infos (name, dimensions innermost first, type, offset into the data);
/// the data section aligned to `general.alignment` (32), each tensor at an aligned offset.
struct GGUFWriter {
    /// A metadata value of the types this project writes.
    enum Value {
        case uint32(UInt32)
        case float32(Float)
        case string(String)
        case stringArray([String])
    }

    /// Tensor element types (GGML type ids).
    enum TensorType: UInt32 {
        case f32 = 0
        case f16 = 1
        case bf16 = 30
    }

    static let alignment = 32

    private(set) var values: [(String, Value)] = []
    private(set) var tensors: [(name: String, dims: [Int], type: TensorType, bytes: [UInt8])] = []

    mutating func add(_ key: String, _ value: Value) { values.append((key, value)) }

    /// Adds a tensor of row-major (numpy) `shape`; GGUF stores the dimensions innermost first.
    mutating func addTensor(_ name: String, shape: [Int], type: TensorType, bytes: [UInt8]) {
        tensors.append((name, shape.reversed(), type, bytes))
    }

    func serialized() -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        out.appendLE(UInt32(3))
        out.appendLE(UInt64(tensors.count))
        out.appendLE(UInt64(values.count))
        for (key, value) in values {
            Self.appendString(key, to: &out)
            switch value {
            case .uint32(let v): out.appendLE(UInt32(4)); out.appendLE(v)
            case .float32(let v): out.appendLE(UInt32(6)); out.appendLE(v.bitPattern)
            case .string(let s): out.appendLE(UInt32(8)); Self.appendString(s, to: &out)
            case .stringArray(let items):
                out.appendLE(UInt32(9)); out.appendLE(UInt32(8)); out.appendLE(UInt64(items.count))
                for item in items { Self.appendString(item, to: &out) }
            }
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset = Self.aligned(offset + tensor.bytes.count)
        }
        for (tensor, tensorOffset) in zip(tensors, offsets) {
            Self.appendString(tensor.name, to: &out)
            out.appendLE(UInt32(tensor.dims.count))
            for d in tensor.dims { out.appendLE(UInt64(d)) }
            out.appendLE(tensor.type.rawValue)
            out.appendLE(UInt64(tensorOffset))
        }
        out.append(contentsOf: repeatElement(0, count: Self.aligned(out.count) - out.count))
        let dataStart = out.count
        for (tensor, tensorOffset) in zip(tensors, offsets) {
            out.append(contentsOf: repeatElement(0, count: dataStart + tensorOffset - out.count))
            out.append(contentsOf: tensor.bytes)
        }
        out.append(contentsOf: repeatElement(0, count: Self.aligned(out.count) - out.count))
        return out
    }

    private static func appendString(_ s: String, to out: inout [UInt8]) {
        let bytes = Array(s.utf8)
        out.appendLE(UInt64(bytes.count))
        out.append(contentsOf: bytes)
    }

    private static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}
