import Testing
@testable import LoRDBA

/// The one byte-size rule of a module's sections (`formats/lba.md` §6).
@Suite struct LBASectionSizeTests {
    @Test func sectionBytesFollowTheSpec() {
        func bytes(_ content: LBASectionContent, _ dtype: ScaleDType = .f16) -> Int? {
            LBALayoutMath.sectionBytes(content, inFeatures: 100, outFeatures: 70, binaryRank: 3, scaleDType: dtype)
        }
        #expect(bytes(.signA) == 3 * 2 * 8)    // 100 columns: two 64-bit words a row
        #expect(bytes(.signB) == 3 * 2 * 8)
        #expect(bytes(.scaleA) == 200 && bytes(.scaleA, .e4m3) == 100 && bytes(.scaleA, .f32) == 400)
        #expect(bytes(.scaleB) == 140)
        #expect(bytes(.scaleM, .e4m3) == 12)   // m is always f32
        #expect(bytes(.carried) == nil && bytes(.unknown("x")) == nil)
        #expect(LBALayoutMath.sectionBytes(.scaleA, inFeatures: Int.max, outFeatures: 1, binaryRank: 1, scaleDType: .f16) == nil)
        // Aligned to 64 bytes each: 64 + 64 + 256 + 192 + 64.
        #expect(LBALayoutMath.storedModuleBytes(inFeatures: 100, outFeatures: 70, binaryRank: 3, scaleDType: .f16,
                                                inputScales: true) == 640)
        #expect(LBALayoutMath.scaleBytes(inFeatures: 100, outFeatures: 70, binaryRank: 3, scaleDType: .f16,
                                         inputScales: true) == 352)
        #expect(LBALayoutMath.scaleBytes(inFeatures: 100, outFeatures: 70, binaryRank: 3, scaleDType: .f16,
                                         inputScales: false) == 152)
    }

    @Test func writtenSectionsHaveTheRuleSizes() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let output = dir.path + "/sample.lba"
        _ = try Converter().convert(input: ReadingFixtures.sample("minilm-cls-r8"), output: output)
        let file = try LBAFile(path: output)
        #expect(file.sections.contains { $0.content == .scaleA })
        for section in file.sections where section.content != .carried {
            let module = try #require(file.adapter.modules.first { $0.name == section.module })
            let expected = LBALayoutMath.sectionBytes(section.content, inFeatures: module.inFeatures,
                                                      outFeatures: module.outFeatures, binaryRank: module.binaryRank,
                                                      scaleDType: file.adapter.scaleDType)
            #expect(section.decodedLength == expected, "\(section.content.name) of \(module.name)")
        }
    }
}
