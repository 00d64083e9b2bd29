// swift-tools-version:5.4
// libFuzzer harnesses for Trackstar's untrusted-input code. A package of its own so that `make test`
// at the root never builds it. Build and run with `./Fuzz/run.sh [seconds-per-harness]`, or by hand:
//
//   swift build -c debug --package-path Fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   Fuzz/.build/debug/FuzzHTTPParser Fuzz/corpus/FuzzHTTPParser -max_total_time=60
import PackageDescription

let package = Package(
    name: "TrackstarFuzz",
    dependencies: [
        .package(name: "trackstar", path: "../"),
    ],
    targets: [
        // Reference models, `require` and the query-decoder checks, shared by the harnesses.
        .target(name: "FuzzSupport", dependencies: [.product(name: "TrackstarHTTP", package: "trackstar")]),
        // HTTPParser.parse over arbitrary bytes, every pipelined request, QueryPairs and PercentDecoding.
        .executableTarget(name: "FuzzHTTPParser", dependencies: [
            "FuzzSupport",
            .product(name: "TrackstarHTTP", package: "trackstar"),
        ]),
        // QueryPairs, PercentDecoding and the server's Params.collect, against a reference model.
        .executableTarget(name: "FuzzQueryDecoder", dependencies: [
            "FuzzSupport",
            .product(name: "TrackstarHTTP", package: "trackstar"),
            .product(name: "TrackstarServer", package: "trackstar"),
        ]),
        // ClickIDCodec.decode over arbitrary text, and decode(encode(x)) == x for IDs built from the input.
        .executableTarget(name: "FuzzClickID", dependencies: [
            "FuzzSupport",
            .product(name: "TrackstarCore", package: "trackstar"),
        ]),
        // ConfigLoader.load(text:) and TOML.parse on arbitrary UTF-8; every accepted config also
        // compiles into the runtime catalog (`RuntimeCheck`), so what check-config accepts starts.
        .executableTarget(name: "FuzzConfig", dependencies: [
            "FuzzSupport",
            .product(name: "TrackstarCore", package: "trackstar"),
            .product(name: "TrackstarConfiguration", package: "trackstar"),
            .product(name: "TrackstarServer", package: "trackstar"),
        ]),
        // Whole requests (click, postback, health, metrics; query, form, proxies) through the real
        // request handler and engine (`LocalEndpoint`), with IDs minted during the run.
        .executableTarget(name: "FuzzRequests", dependencies: [
            "FuzzSupport",
            .product(name: "TrackstarCore", package: "trackstar"),
            .product(name: "TrackstarConfiguration", package: "trackstar"),
            .product(name: "TrackstarServer", package: "trackstar"),
        ]),
    ]
)
