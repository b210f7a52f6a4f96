import ArgumentParser

/// "Did you mean" for every misspelt flag, including those that take a value: the parser would
/// otherwise take `r.json` in `--report-jsn r.json` for one more input and complain about the
/// number of paths instead of naming the flag.
enum UnknownFlag {
    /// Checks this process's arguments against the flags `command`'s help names.
    static func check(_ command: any ParsableCommand.Type) throws {
        try check(CommandLine.arguments, known: longNames(in: command.helpMessage(columns: 1000)))
    }

    /// Throws a usage error for the first `--flag` in `arguments` that is not in `known`,
    /// suggesting the nearest known name. Arguments after `--` are paths, never flags.
    static func check(_ arguments: [String], known: Set<String>) throws {
        for argument in arguments.dropFirst() {
            if argument == "--" { return }
            guard argument.hasPrefix("--") else { continue }
            let name = String(argument.prefix { $0 != "=" })
            guard !known.contains(name) else { continue }
            let nearest = known.map { ($0, distance(name, $0)) }.min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
            if let (suggestion, d) = nearest, d <= Swift.max(2, name.count / 3) {
                throw ValidationError("Unknown option '\(name)'. Did you mean '\(suggestion)'?")
            }
            throw ValidationError("Unknown option '\(name)'.")
        }
    }

    /// Every `--name` a help text mentions (plus `--help` and `--version`).
    static func longNames(in help: String) -> Set<String> {
        var names: Set<String> = ["--help", "--version"]
        var current = ""
        for character in help + " " {
            if character.isLetter || character.isNumber || character == "-" {
                current.append(character)
                continue
            }
            if current.hasPrefix("--"), current.count > 2 { names.insert(current) }
            current = ""
        }
        return names
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let (x, y) = (Array(a), Array(b))
        var previous = Array(0...y.count)
        for i in 1...Swift.max(1, x.count) where !x.isEmpty {
            var row = [i] + Array(repeating: 0, count: y.count)
            for j in 1...Swift.max(1, y.count) where !y.isEmpty {
                row[j] = Swift.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            previous = row
        }
        return x.isEmpty ? y.count : previous[y.count]
    }
}
