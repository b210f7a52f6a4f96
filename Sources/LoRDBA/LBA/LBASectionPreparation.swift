/// The modules' section payloads prepared in parallel before the writer lays the file out
/// in order (the layout, the decoded budget and the CRCs stay sequential).
extension LBAWriter {
    /// One payload of a module and its zstd candidate.
    struct PreparedPayload: Sendable {
        var content: LBASectionContent
        var bytes: [UInt8]
        var compressed: [UInt8]?
    }

    /// Every module's payloads (signs, scales in the adapter's dtype) and their zstd frames,
    /// on `threads` threads in contiguous runs of modules, one compression context per run; a
    /// frame depends only on its payload and the level, so the result does not depend on the
    /// thread count.
    func preparedModules(_ adapter: BinaryAdapter, path: String) throws(LBAError) -> [[PreparedPayload]] {
        let modules = adapter.modules
        let runs = Swift.max(1, Swift.min(modules.count, Swift.max(1, threads) * 4))
        let perRun = (modules.count + runs - 1) / Swift.max(1, runs)
        let prepared = try ParallelLoop.map(count: runs, threads: threads) { (run) throws(LBAError) -> [[PreparedPayload]] in
            let range = Swift.min(modules.count, run * perRun)..<Swift.min(modules.count, (run + 1) * perRun)
            var context: Zstd.CompressionContext?
            if compression, !range.isEmpty {
                do throws(ZstdError) { context = try Zstd.CompressionContext() } catch {
                    throw .compression(path: path, context: "writer", problem: error.description)
                }
            }
            var out: [[PreparedPayload]] = []
            for module in modules[range] {
                var payloads: [(LBASectionContent, [UInt8])] = [
                    (.signA, LBAWriter.bytes(of: module.signA)),
                    (.signB, LBAWriter.bytes(of: module.signB)),
                ]
                if let a = module.scales.input { payloads.append((.scaleA, adapter.scaleDType.encode(a))) }
                payloads.append((.scaleB, adapter.scaleDType.encode(module.scales.output)))
                payloads.append((.scaleM, ScaleDType.f32.encode(module.scales.middle)))
                var prepared: [PreparedPayload] = []
                for (content, bytes) in payloads {
                    prepared.append(PreparedPayload(content: content, bytes: bytes,
                                                    compressed: try zstdCandidate(bytes, content: content, context: context, path: path)))
                }
                out.append(prepared)
            }
            return out
        }
        return prepared.flatMap { $0 }
    }
}
