#if canImport(Glibc)
import Glibc
#endif

import ArgumentParser
import LoRDBA

/// One child run: wall seconds, CPU seconds (user + system), peak resident bytes, exit status.
struct Measurement {
    var wall: Double
    var cpu: Double
    var peak: Int
    var status: Int32
    /// This process's resident bytes when it spawned the child: the lowest peak the kernel can
    /// report for the child (see ``measureProcess(_:_:environment:)``).
    var floor: Int = 0

    /// Per-field medians.
    static func median(_ runs: [Measurement]) -> Measurement {
        func mid<T: Comparable>(_ v: [T]) -> T { v.sorted()[v.count / 2] }
        return Measurement(wall: mid(runs.map(\.wall)), cpu: mid(runs.map(\.cpu)), peak: mid(runs.map(\.peak)), status: 0,
                           floor: mid(runs.map(\.floor)))
    }
}

/// Resident memory of this process, from `/proc/self/status` (`VmRSS`), in bytes (0 if unknown).
func residentBytes() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return 0 }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    while fgets(&buffer, Int32(buffer.count), file) != nil {
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if line.hasPrefix("VmRSS:") {
            let digits = line.filter(\.isNumber)
            return (Int(digits) ?? 0) * 1024
        }
    }
    return 0
}

/// Resets this process's peak resident size to its current size (`/proc/self/clear_refs`, value 5).
///
/// `posix_spawn` starts the child on this process's address space (vfork-like) and the kernel
/// carries that address space's peak into the child's `ru_maxrss` when it execs, so without the
/// reset a child would report the bench's own peak (e.g. the adapter generator's 190 MB) instead
/// of its own. Returns whether the reset worked.
@discardableResult
func resetPeakResident() -> Bool {
    let fd = open("/proc/self/clear_refs", O_WRONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return write(fd, "5", 1) == 1
}

/// Runs `path args…` with extra environment variables, measuring it with `wait4`. The peak is the
/// child's own: this process's peak is reset first (``resetPeakResident()``), so at most this
/// process's current resident size (`floor`) can show through.
func measureProcess(_ path: String, _ args: [String], environment extra: [String: String] = [:]) throws -> Measurement {
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var env: [UnsafeMutablePointer<CChar>?] = []
    var p = environ
    while let entry = p.pointee {
        let text = String(cString: entry)
        if let key = text.split(separator: "=", maxSplits: 1).first, extra[String(key)] != nil {
            p += 1
            continue
        }
        env.append(strdup(entry))
        p += 1
    }
    for (key, value) in extra { env.append(strdup("\(key)=\(value)")) }
    env.append(nil)
    defer { env.forEach { free($0) } }
    resetPeakResident()
    let floor = residentBytes()
    let clock = ContinuousClock()
    let start = clock.now
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, nil, nil, argv, env)
    guard spawned == 0 else { throw ValidationError("cannot start \(path): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    var usage = rusage()
    guard wait4(pid, &status, 0, &usage) == pid else { throw ValidationError("wait4 failed") }
    let seconds = (clock.now - start).seconds
    let exitCode = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let cpu = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    return Measurement(wall: seconds, cpu: cpu, peak: Int(usage.ru_maxrss) * 1024, status: exitCode, floor: floor)
}
