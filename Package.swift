// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "lordba",
    products: [
        .library(name: "LoRDBA", targets: ["LoRDBA"]),
        .executable(name: "lordba-convert", targets: ["lordba-convert"]),
        .executable(name: "lordba-validate", targets: ["lordba-validate"]),
        .executable(name: "lordba-bench", targets: ["lordba-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // MARK: - C libraries (system packages, found with pkg-config)
        .systemLibrary(
            name: "CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(
            name: "CJSONC", pkgConfig: "json-c",
            providers: [.apt(["libjson-c-dev"]), .brew(["json-c"])]),
        .systemLibrary(
            name: "CCrypto", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]),
        .systemLibrary(
            name: "CPCRE2", pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"]), .brew(["pcre2"])]),

        // MARK: - Hot kernels in C, compiled for SSE2 and for AVX2 + FMA + F16C, chosen at run time
        .target(name: "CLoRDBAKernels"),

        // MARK: - The pipeline
        .target(name: "LoRDBA", dependencies: ["CZstd", "CJSONC", "CCrypto", "CPCRE2", "CLoRDBAKernels"]),

        // MARK: - Command-line tools (thin: parse, call the library, print)
        .executableTarget(
            name: "lordba-convert",
            dependencies: ["LoRDBA", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "lordba-validate",
            dependencies: ["LoRDBA", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(
            name: "lordba-bench",
            dependencies: ["LoRDBA", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // MARK: - Tests
        // The command-line tools are dependencies so that `swift test` builds them for the end-to-end tests.
        .testTarget(name: "LoRDBATests", dependencies: ["LoRDBA", "lordba-convert", "lordba-validate", "lordba-bench"]),
    ]
)
