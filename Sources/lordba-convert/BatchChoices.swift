import ArgumentParser
import LoRDBA

// The batch options' values: `--progress` lists its choices, `--shard` takes `I/N`.

extension ProgressMode: ExpressibleByArgument {}

/// `--shard I/N`: the I-th of N parallel jobs (1 ≤ I ≤ N).
extension Shard: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }

    public var defaultValueDescription: String { description }
}
