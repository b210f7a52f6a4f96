/// Helpers that keep error messages on one line whatever the input file contains.
enum ReadingText {
    /// Longest name or path quoted in a message; longer ones are shortened in the middle.
    static let maxQuotedLength = 200

    /// `text` with control characters escaped (`\u{…}`) and shortened to
    /// `maxQuotedLength` characters, so a hostile tensor name cannot break a one-line message.
    static func oneLine(_ text: String) -> String {
        let out = MessageText.escaped(text)
        guard out.count > maxQuotedLength else { return out }
        let keep = (maxQuotedLength - 1) / 2
        return String(out.prefix(keep)) + "…" + String(out.suffix(keep))
    }

    /// `"<file>: <subject>: <problem>"`, or `"<file>: <problem>"` without a subject.
    static func message(file: String, subject: String?, problem: String) -> String {
        var parts = [oneLine(file)]
        if let subject { parts.append(oneLine(subject)) }
        parts.append(oneLine(problem))
        return parts.joined(separator: ": ")
    }

    /// A shape written the way safetensors headers write it: `[8, 384]`.
    static func shape(_ dims: [Int]) -> String {
        "[" + dims.map(String.init).joined(separator: ", ") + "]"
    }
}
