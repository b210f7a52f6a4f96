import ArgumentParser
import LoRDBA

/// The options that decide how each module is binarized and how large the file is: parsed into
/// one ``ConversionRun/FidelityChoices`` value (which refuses contradictory combinations).
struct FidelityOptions: ParsableArguments {
    @Option(name: .long, help: "Storage dtype of the outer scales a and b (e4m3: OCP fp8, one byte; m is always f32).")
    var scaleDtype: ScaleDType = PipelineOptions().scaleDType

    @Option(name: .long, help: "Factor pair to binarize (default auto: the best per module).")
    var factorization: Factorization?

    @Option(name: .long, help: "Sign channels per module: N (also below the LoRA rank), or a multiple of the LoRA rank such as 2x (default 1x).",
            completion: .list(BinaryRankChoice.suggestions))
    var binaryRank: BinaryRankChoice?

    @Option(name: .long, help: "Scale vectors: full (a, m, b; default) or compact (m, b: no input-channel scale).")
    var scales: ScalesChoice?

    @Option(name: .long, help: "Per module, the smallest binary rank (in steps of r, up to --binary-rank or 4r) with product error at most this.")
    var targetError: Double?

    @Option(name: .long, help: "Make each file about X times smaller than the adapter in fp16 (within 3 %, never larger), choosing each module's binary rank and scale layout for the least error.")
    var sizeRatio: Double?

    @Option(name: .long, help: "Make each file at most this many bytes (within 3 % when the options allow), choosing each module's binary rank and scale layout for the least error.")
    var budget: Int?

    @Option(name: .long, help: "What --size-ratio / --budget minimise: relative (the sum of squared relative errors; default) or absolute (the sum of squared errors).")
    var budgetObjective: BudgetObjective?

    @Option(name: .long, help: "Closed-form scale refit sweeps (alternating least squares; default \(PipelineOptions().refitSweeps)); 0 turns them off.")
    var refitSweeps: Int?

    @Option(name: .long, help: "Rounds of exact sign search (binary coordinate descent; default \(SignDescent.defaultRounds)); 0 turns it off.")
    var bcdRounds: Int?

    /// Removed: per-module straight-through steps changed no module that model-level checks could
    /// see; refinement against the model is `lordba-refine`'s. Parsed only to say so.
    @Option(name: .long, help: .hidden)
    var refineSteps: Int?

    @Option(name: .long, help: "Seed for the random orthogonal mixes of --factorization rotated.")
    var seed: UInt64 = PipelineOptions().seed

    @Flag(name: .long, help: "Plain LoRDBA: as-is factors, signs and rank-1 magnitudes, no refinement (no fidelity option may be given with it).")
    var plain = false

    func validate() throws {
        if refineSteps != nil {
            throw ValidationError("--refine-steps was removed: refine a .lba against the model with lordba-refine (pip install './python[torch]'; docs/refine.md).")
        }
        if let targetError, !(targetError >= 0) { throw ValidationError("--target-error must be a non-negative number.") }
    }

    /// The choices as one value; `calibration` is whether `--calibration` was given.
    func choices(calibration: Bool) -> ConversionRun.FidelityChoices {
        var choices = ConversionRun.FidelityChoices()
        choices.plain = plain
        choices.factorization = factorization
        choices.binaryRank = binaryRank
        choices.compactScales = scales.map { $0 == .compact }
        choices.targetError = targetError
        choices.sizeRatio = sizeRatio
        choices.budget = budget
        choices.budgetObjective = budgetObjective
        choices.refitSweeps = refitSweeps
        choices.descentRounds = bcdRounds
        choices.calibration = calibration
        choices.scaleDType = scaleDtype
        choices.seed = seed
        return choices
    }
}

/// Where the adapter's tensors and config come from.
struct InputOptions: ParsableArguments {
    @Option(name: .long, help: "adapter_config.json to use instead of the one beside the weights.", completion: .file(extensions: ["json"]))
    var config: String?

    @Option(name: .long, help: "Adapter to convert when the keys name several (lora_A.<name>.weight).")
    var adapterName: String?

    @Flag(name: .long, help: "Leave out tensors that are not LoRA pairs (DoRA magnitudes, modules_to_save, biases).")
    var dropExtra = false

    @Option(name: .long, help: "Per-module input statistics (<module>.input_sq_mean, shape [in]) that weight the refinement by input channel.",
            completion: .file(extensions: ["safetensors"]))
    var calibration: String?
}
