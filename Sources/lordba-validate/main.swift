import ArgumentParser
import LoRDBA
#if canImport(Glibc)
import Glibc
#endif

/// `lordba-validate`: run a `.lba` the way a device will and check it.
///
/// Exit codes: 0 every check passed; 1 the sign kernel disagrees with the dense reference
/// (relative difference above 1e-5), or an input is unreadable or invalid; 3 a module's
/// fidelity exceeds `--max-error`; 4 a module's check left the Float32 range (finite scales too
/// large for the arithmetic at its shape: the kernel is not judged there); 64 a usage error.
@main
struct LordbaValidate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lordba-validate",
        abstract: "Check a .lba: sign kernel against the dense reference, fidelity against the original LoRA, and speed.",
        discussion: """
            On seeded Gaussian inputs, per module and in total: (1) the sign GEMM against the dense \
            reference (Â, B̂ expanded to Float32), for Float32 and Float16 inputs — a relative difference \
            above 1e-5 fails; (2) with --reference, ‖Y_lba − Y_lora‖/‖Y_lora‖ against the original LoRA, \
            whose expectation on these inputs is the conversion report's product error; (3) the time of \
            the sign path, of the dense LoRA branch and of the base layer's GEMM (through OpenBLAS when \
            it is installed) at T = 1 and T = 512.
            DoRA modules: with --reference their magnitude must equal the reference's byte for byte; \
            with --base (the base model's weights) their fidelity is that of the whole DoRA layer's \
            effect, (g/‖W₀+ΔW‖)⊙(W₀x+ΔWx) − W₀x, each side with its own row norms; without --base only \
            ΔW·x is compared (the norm rescaling needs W₀).
            A module whose scales are too large for Float32 arithmetic at its shape is reported as a \
            float32 overflow (what overflowed, in one line naming the module), not as a kernel mismatch. \
            The dense branch is timed at the file's rank r, at most min(in, out); a shape whose timing \
            buffers would exceed 1 GiB is not timed (said in one line).
            Exit codes: 0 ok; 1 kernel mismatch or unreadable input; 3 fidelity above --max-error; \
            4 float32 overflow in a module's check; 64 usage error.
            """,
        version: ToolVersion.current)

    @Argument(help: "The .lba file to validate.", completion: .file(extensions: ["lba"]))
    var file: String

    @Option(help: "The original LoRA (safetensors file or adapter folder) to measure fidelity against.", completion: .file())
    var reference: String?

    @Option(help: "The base model's weights (a .safetensors file or a folder of them): with --reference, DoRA modules are checked as whole DoRA layers (magnitude and row norms), not only their ΔW.",
            completion: .file())
    var base: String?

    @Option(help: "Seeded Gaussian input rows per module.")
    var tokens = 512

    @Option(help: "Seed of the inputs.")
    var seed: UInt64 = PipelineOptions.defaultSeed

    @Option(help: "Write the results as JSON to this path (- for standard output).", completion: .file(extensions: ["json"]))
    var json: String?

    @Flag(help: "Replace an existing --json file (a regular file only; never an input).")
    var force = false

    @Option(help: "Exit with status 3 when a module's fidelity error exceeds this (needs --reference).")
    var maxError: Double?

    @Option(help: "Threads for the kernels and for OpenBLAS.")
    var threads = ProcessInfoCores.count

    @Flag(name: .customLong("timing"), inversion: .prefixedNo, help: "Time the sign path, the dense branch and the base GEMM.")
    var timing = true

    @Option(help: "Samples per timing (the median is reported).")
    var timingSamples = 5

    func validate() throws {
        if tokens < 1 { throw ValidationError("--tokens must be at least 1.") }
        if threads < 1 { throw ValidationError("--threads must be at least 1.") }
        if timingSamples < 1 { throw ValidationError("--timing-samples must be at least 1.") }
        if base != nil && reference == nil { throw ValidationError("--base needs --reference (it serves the DoRA check against the original adapter).") }
        if let maxError {
            if !(maxError >= 0) { throw ValidationError("--max-error must be a non-negative number.") }
            if reference == nil { throw ValidationError("--max-error needs --reference (fidelity is measured against the original LoRA).") }
        }
    }

    func run() throws {
        var options = ValidationOptions()
        options.tokens = tokens
        options.seed = seed
        options.threads = threads
        options.referencePath = reference
        options.basePath = base
        options.maxError = maxError
        options.timing = timing
        options.timingSamples = timingSamples
        let result: ValidationResult
        do {
            result = try Validator.validate(path: file, options: options)
        } catch {
            printError("error: \(error.description)")
            throw ExitCode(ValidationStatus.unreadableInputExitCode)
        }
        if json != "-" { print(ValidationReport.text(result)) }
        if let json {
            do {
                if let text = try ValidationReport.writeJSON(result, to: json, inputs: [file] + (reference.map { [$0] } ?? []) + (base.map { [$0] } ?? []),
                                                            overwrite: force) {
                    print(text, terminator: "")
                }
            } catch {
                if error.isExistingDestination {
                    printError("error: \(json): exists (use --force to replace it)")
                } else {
                    printError("error: \(error)")
                }
                throw ExitCode(ValidationStatus.unreadableInputExitCode)
            }
        }
        if result.status != .passed {
            printError(ValidationReport.verdict(result.status))
            throw ExitCode(result.status.exitCode)
        }
    }
}

/// Writes one line to standard error.
func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
