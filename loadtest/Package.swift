// swift-tools-version:6.0
// Trackstar's load generator (`tsload`) and its do-nothing reference responders (`tsfloor` over libuv,
// `tsfloor-uring` receiving through io_uring), kept in their own package so that `make test` at the
// root never builds them.
import PackageDescription

let package = Package(
    name: "trackstar-loadtest",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tsload", targets: ["tsload"]),
        .executable(name: "tsfloor", targets: ["tsfloor"]),
        .executable(name: "tsfloor-uring", targets: ["TSFloorURing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .executableTarget(name: "tsload", dependencies: [
            "CUV",
            .product(name: "Histogram", package: "hdrhistogram-swift"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "tsfloor", dependencies: [
            "CUV", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The same responder receiving through io_uring (C over Debian's liburing-dev).
        .executableTarget(name: "TSFloorURing", linkerSettings: [.linkedLibrary("uring"), .linkedLibrary("pthread")]),
    ],
    swiftLanguageModes: [.v6]
)
