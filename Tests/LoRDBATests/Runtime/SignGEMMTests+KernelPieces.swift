import Testing
@testable import LoRDBA

extension SignGEMMTests {
    /// The kernel's pieces on every CPU path: input scaling as loaded, step 1 and 2 tiles, sign masks, half conversion.
    @Suite struct KernelPieces {
        /// Blocks of 8 Float32 tokens multiply the input scale in as step 1 loads them; Float16 tokens
        /// are converted and scaled by a pre-pass first. Both make the same products, so on the same
        /// values the results are identical, bit for bit, on every CPU path (tails of 1…7 inputs,
        /// token counts with and without a remainder after the blocks of 8).
        @Test func inputScaleMultipliedAsLoadedEqualsThePrePass() {
            var rng = SeededGenerator(seed: 23)
            for (inFeatures, outFeatures, k) in [(13, 9, 8), (130, 63, 16), (1001, 70, 11), (64, 64, 24)] {
                let module = Fixtures.module(name: "m", inFeatures: inFeatures, outFeatures: outFeatures, k: k,
                                             inputScales: true, using: &rng)
                let kernel = SignGEMM(module)
                for tokens in [8, 16, 19] {
                    let x16 = activations(tokens * inFeatures, seed: UInt64(tokens + inFeatures)).map { Float16($0) }
                    let results = Self.onEachPath { _ -> [[Float]] in
                        var fromFloat = [Float](repeating: 0.5, count: tokens * outFeatures)
                        var fromHalf = fromFloat
                        kernel.apply(x16.map { Float($0) }, tokens: tokens, into: &fromFloat)
                        kernel.apply(x16, tokens: tokens, into: &fromHalf)
                        return [fromFloat, fromHalf]
                    }
                    for result in results {
                        let identical = result[0] == result[1], pathsAgree = result[0] == results[0][0]
                        #expect(identical, "in \(inFeatures) k \(k) T \(tokens): Float32 and Float16 rows differ")
                        #expect(pathsAgree, "in \(inFeatures) k \(k) T \(tokens): CPU paths differ")
                    }
                }
            }
        }

        /// Every CPU path this machine runs (SSE2, and AVX2 when present), the path restored after.
        static func onEachPath<T>(_ body: (CPUPath) -> T) -> [T] {
            let saved = CPUDispatch.current
            defer { CPUDispatch.use(saved) }
            return CPUPath.allCases.filter(CPUDispatch.isSupported).map { path in
                CPUDispatch.use(path)
                return body(path)
            }
        }

        /// Step 1's wide and narrow tiles, on every CPU path, give identical sums, equal to a plain
        /// sum of ±x in the same lane order.
        @Test func bothStepOneTilesGiveIdenticalSumsOnEveryPath() {
            let chunks = 37, inFeatures = chunks * 8 + 5, k = 5
            let x = activations(4 * inFeatures, seed: 4)
            var rng = SeededGenerator(seed: 8)
            let rowBytes = (inFeatures + 63) / 64 * 8
            let signs = (0..<(k * rowBytes)).map { i -> UInt8 in
                let byte = UInt8(truncatingIfNeeded: rng.next())
                let column = (i % rowBytes) * 8   // padding bits past `in` stay zero
                return column >= inFeatures ? 0 : (column + 8 > inFeatures ? byte & UInt8((1 << (inFeatures - column)) - 1) : byte)
            }
            let middle = [Float](repeating: 1, count: k)
            var expected = [Float](repeating: 0, count: 4 * k)
            // Columns go in tiles of 16 chunks (the partial last chunk on its own); each tile's
            // lanes are summed and added to z.
            let tiles = stride(from: 0, to: chunks, by: 16).map { $0..<min($0 + 16, chunks) } + [chunks..<(chunks + 1)]
            for t in 0..<4 {
                for j in 0..<k {
                    var total: Float = 0
                    for tile in tiles {
                        var lanes = SIMD8<Float>()
                        for c in tile {
                            for l in 0..<8 where c * 8 + l < inFeatures {
                                let v = x[t * inFeatures + c * 8 + l]
                                lanes[l] += (signs[j * rowBytes + c] >> UInt8(l)) & 1 == 1 ? -v : v
                            }
                        }
                        total += lanes.sum()
                    }
                    expected[t * k + j] = total
                }
            }
            let results = Self.onEachPath { _ -> [[Float]] in
                var outputs: [[Float]] = []
                for wide in [true, false] {
                    for tokens in [4, 1] {
                        var z = [Float](repeating: .nan, count: 4 * k)
                        var tail = [Float](repeating: 0, count: 32)
                        x.withUnsafeBufferPointer { xp in
                            signs.withUnsafeBufferPointer { sp in
                                z.withUnsafeMutableBufferPointer { zp in
                                    for t in stride(from: 0, to: 4, by: tokens) {
                                        SignKernel.down(x: xp.baseAddress! + t * inFeatures, stride: inFeatures, tokens: tokens,
                                                        inFeatures: inFeatures, signA: sp.baseAddress!, rowBytes: rowBytes,
                                                        channels: 0..<k, middle: middle, z: zp.baseAddress! + t * k, zStride: k,
                                                        tail: &tail, tileChunks: 16, wide: wide)
                                    }
                                }
                            }
                        }
                        outputs.append(z)
                    }
                }
                return outputs
            }
            for outputs in results { for z in outputs { #expect(z == expected) } }
            #expect(["4 tokens × 2 channels", "4 tokens × 1 channel"].contains(SignGEMM.stepOneTile))
        }

        /// Step 2 by XOR: the single-token 64-output tile (wide) and two 32-output halves (narrow),
        /// and the 4-token tile, agree on every CPU path.
        @Test func stepTwoTilesAgreeOnEveryPath() {
            let k = 5, words = 3, outFeatures = 64 * words - 7
            var rng = SeededGenerator(seed: 12)
            let signs = (0..<(k * words)).map { i -> UInt64 in
                let word = rng.next()
                return i % words == words - 1 ? word & ((1 << 57) - 1) : word
            }
            let z = activations(4 * k, seed: 2)
            let scale = activations(outFeatures, seed: 3)
            let start = activations(4 * outFeatures, seed: 4)
            var expected = start
            for t in 0..<4 {
                for o in 0..<outFeatures {
                    var sum: Float = 0
                    for j in 0..<k { sum += (signs[j * words + o / 64] >> UInt64(o % 64)) & 1 == 1 ? -z[t * k + j] : z[t * k + j] }
                    expected[t * outFeatures + o] += scale[o] * sum
                }
            }
            let results = Self.onEachPath { _ -> [[Float]] in
                var outputs: [[Float]] = []
                for wide in [true, false] {
                    for tokens in [4, 1] {
                        var y = start
                        var tail = [Float](repeating: 0, count: 128)
                        for t in stride(from: 0, to: 4, by: tokens) {
                            z.withUnsafeBufferPointer { zp in
                                signs.withUnsafeBufferPointer { sp in
                                    y.withUnsafeMutableBufferPointer { yp in
                                        SignKernel.up(z: zp.baseAddress! + t * k, zStride: k, tokens: tokens, k: k,
                                                      signB: sp.baseAddress!, wordsPerRow: words, outFeatures: outFeatures,
                                                      words: 0..<words, scale: scale, y: yp.baseAddress! + t * outFeatures,
                                                      yStride: outFeatures, tail: &tail, wide: wide)
                                    }
                                }
                            }
                        }
                        outputs.append(y)
                    }
                }
                return outputs
            }
            let first = results[0][0]
            for outputs in results {
                for y in outputs {
                    #expect(y == first)
                    for i in y.indices { #expect(abs(y[i] - expected[i]) <= 1e-5 * (1 + abs(expected[i]))) }
                }
            }
        }

        @Test func halfConversionIsExactForEveryPattern() {
            var mismatches: [UInt16] = []
            for base in stride(from: 0, to: 65536, by: 8) {
                let bits = SIMD8<UInt16>((0..<8).map { UInt16(base + $0) })
                let converted = SignMasks.floats(fromHalfBits: bits)
                for lane in 0..<8 where converted[lane].bitPattern != Float(Float16(bitPattern: bits[lane])).bitPattern {
                    mismatches.append(bits[lane])
                }
            }
            #expect(mismatches.count == 0, "first mismatches: \(mismatches.prefix(8))")
        }

        @Test func maskTableFlipsExactlyTheSetBits() {
            for byte in 0..<256 {
                let mask = SignMasks.table[byte]
                for lane in 0..<8 {
                    #expect(mask[lane] == ((byte >> lane) & 1 == 1 ? 0x8000_0000 : 0))
                }
            }
        }
    }
}
