import Testing
@testable import LoRDBA

/// The same adapter in the forms users find it converts to the same signs and scales.
@Suite struct InputLayoutsConversionTests {
    typealias I = InputFixtures

    func convert(_ input: String, to output: String, adapterName: String? = nil, dropExtra: Bool = false) throws -> LBAFile {
        var options = ConversionOptions()
        options.threads = 1
        options.adapterName = adapterName
        options.dropExtra = dropExtra
        _ = try Converter(options: options).convert(input: input, output: output)
        return try LBAFile(path: output)
    }

    func expectSameBinary(_ x: BinaryModule, _ y: BinaryModule, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(x.kind == y.kind && x.loraRank == y.loraRank, sourceLocation: sourceLocation)
        #expect(x.loraScale == y.loraScale, sourceLocation: sourceLocation)
        #expect(x.signA == y.signA && x.signB == y.signB, sourceLocation: sourceLocation)
        #expect(x.scales == y.scales, sourceLocation: sourceLocation)
    }

    @Test func diffusersFileConvertsLikeThePEFTSaves() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let weights = I.writeDiffusers(in: dir)
        let folders = I.writePEFT(in: dir)
        let diffusers = try convert(weights, to: dir.path + "/diffusers.lba")
        #expect(diffusers.adapter.layout == .diffusers)
        #expect(diffusers.version == LBAVersion(major: 1, minor: 1))
        #expect(diffusers.adapter.metadata["lordba.source_layout"] == "diffusers")
        #expect(diffusers.adapter.metadata[DiffusersLayout.metadataKey] == I.adapterMetadata)
        #expect(diffusers.adapter.modules.count == 4)
        var compared = 0
        for component in ["unet", "text_encoder"] {
            let peft = try convert(folders[component]!, to: dir.path + "/\(component).lba")
            #expect(peft.adapter.layout == .peft && peft.version.major == 1)   // 1.1 only when the compressed table is shorter
            for module in peft.adapter.modules {
                let path = String(module.name.dropFirst("base_model.model.".count))
                let twin = try #require(diffusers.adapter.modules.first { $0.name == component + "." + path })
                expectSameBinary(twin, module)
                compared += 1
            }
        }
        #expect(compared == 4)
        let scales = Dictionary(uniqueKeysWithValues: diffusers.adapter.modules.map { ($0.name, $0.loraScale) })
        for (module, scale) in zip(I.modules, I.expectedScales) {
            #expect(scales[module.component + "." + module.path] == scale)
        }
    }

    @Test func namedAdapterConvertsLikeItsSavePretrainedOutput() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let raw = dir.mkdir("raw")
        dir.writeTensors("raw/model.safetensors", I.rawPEFTTensors())
        dir.write("raw/adapter_config.json", text: I.rawConfig)
        let saved = dir.mkdir("saved")
        dir.writeTensors("saved/adapter_model.safetensors", I.savedStyleTensors())
        dir.write("saved/adapter_config.json", text: I.rawConfig)

        let fromRaw = try convert(raw, to: dir.path + "/raw.lba", adapterName: "style")
        let fromSaved = try convert(saved, to: dir.path + "/saved.lba")
        // The same carried tensors (DoRA magnitudes) under the same names, byte for byte.
        #expect(fromRaw.adapter.carried == fromSaved.adapter.carried)
        #expect(fromRaw.adapter.carried.count == 2)
        #expect(fromRaw.adapter.modules.map(\.name) == fromSaved.adapter.modules.map(\.name))
        #expect(fromRaw.adapter.modules.map(\.name) == I.rawPaths.map { "base_model.model." + $0 })
        for (x, y) in zip(fromRaw.adapter.modules, fromSaved.adapter.modules) {
            expectSameBinary(x, y)
            #expect(x.loraScale == 3)
        }
    }
}
