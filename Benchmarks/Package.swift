// swift-tools-version:6.1
// Trackstar's benchmarks (ordo-one/benchmark), kept out of the main package so `make test` does not
// build them. Run with `make bench` or `swift package benchmark` in this directory. Benchmarks/ holds
// only benchmark targets (the plugin runs every one); the figure programs live in Figures/.
import PackageDescription

let package = Package(
    name: "TrackstarBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "trackstar", path: "../"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RequestPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
                .product(name: "TrackstarHTTP", package: "trackstar"),
                .product(name: "TrackstarServer", package: "trackstar"),
                .product(name: "TrackstarIO", package: "trackstar"),
            ],
            path: "Benchmarks/RequestPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EnrichPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TrackstarEnrich", package: "trackstar"),
            ],
            path: "Benchmarks/EnrichPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The clock, resident memory and number formatting every figure program uses.
        .target(name: "FigureSupport", path: "Figures/FigureSupport"),
        .executableTarget(
            name: "RecoveryFigures",
            dependencies: [
                "FigureSupport",
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
                .product(name: "TrackstarServer", package: "trackstar"),
            ],
            path: "Figures/RecoveryFigures"
        ),
        .executableTarget(
            name: "PathFigures",
            dependencies: [
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
                .product(name: "TrackstarServer", package: "trackstar"),
                .product(name: "TrackstarTestSupport", package: "trackstar"),  // MMDBWriter, for `city`
            ],
            path: "Figures/PathFigures"
        ),
        .executableTarget(
            name: "CapFigures",
            dependencies: ["FigureSupport", .product(name: "TrackstarServer", package: "trackstar")],
            path: "Figures/CapFigures"
        ),
        .executableTarget(
            name: "IndexFigures",
            dependencies: [
                "FigureSupport",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
                .product(name: "TrackstarStore", package: "trackstar"),
                .product(name: "TrackstarServer", package: "trackstar"),
            ],
            path: "Figures/IndexFigures"
        ),
        .executableTarget(
            name: "UniqueFigures",
            dependencies: ["FigureSupport", .product(name: "TrackstarCore", package: "trackstar"), .product(name: "TrackstarStore", package: "trackstar")],
            path: "Figures/UniqueFigures"
        ),
        .executableTarget(
            name: "EnrichFigures",
            dependencies: [
                "FigureSupport",
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
                .product(name: "TrackstarEnrich", package: "trackstar"),
            ],
            path: "Figures/EnrichFigures"
        ),
        .executableTarget(
            name: "DeliveryFigures",
            dependencies: [
                "FigureSupport",
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
                .product(name: "TrackstarStore", package: "trackstar"),
                .product(name: "TrackstarDelivery", package: "trackstar"),
            ],
            path: "Figures/DeliveryFigures"
        ),
        .executableTarget(
            name: "ExportFigures",
            dependencies: [
                "FigureSupport",
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
                .product(name: "TrackstarStore", package: "trackstar"),
                .product(name: "TrackstarExport", package: "trackstar"),
            ],
            path: "Figures/ExportFigures"
        ),
        .executableTarget(
            name: "ReportFigures",
            dependencies: [
                .product(name: "TrackstarCore", package: "trackstar"),
                .product(name: "TrackstarExport", package: "trackstar"),
                .product(name: "TrackstarConfiguration", package: "trackstar"),
            ],
            path: "Figures/ReportFigures"
        ),
    ]
)
