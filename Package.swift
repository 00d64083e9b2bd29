// swift-tools-version:6.0
// Trackstar: a server-to-server click tracking engine over libuv.
import PackageDescription

let package = Package(
    name: "trackstar",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "trackstar", targets: ["trackstar"]),
        .library(name: "TrackstarCore", targets: ["TrackstarCore"]),
        .library(name: "TrackstarConfiguration", targets: ["TrackstarConfiguration"]),
        .library(name: "TrackstarHTTP", targets: ["TrackstarHTTP"]),
        .library(name: "TrackstarStore", targets: ["TrackstarStore"]),
        .library(name: "TrackstarIO", targets: ["TrackstarIO"]),
        .library(name: "TrackstarServer", targets: ["TrackstarServer"]),
        .library(name: "TrackstarExport", targets: ["TrackstarExport"]),
        .library(name: "TrackstarDelivery", targets: ["TrackstarDelivery"]),
        .library(name: "TrackstarEnrich", targets: ["TrackstarEnrich"]),
        // Test helpers (MMDBWriter, golden fixtures) for the figure programs in Benchmarks/.
        .library(name: "TrackstarTestSupport", targets: ["TrackstarTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // IPFire's libloc (Debian's libloc-dev): the geo loader's data source; PCRE2 with JIT (Debian's
        // libpcre2-dev): the uap-core user-agent patterns.
        .systemLibrary(name: "CLibLoc", pkgConfig: "libloc", providers: [.apt(["libloc-dev"])]),
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
        // libmaxminddb (Debian's libmaxminddb-dev): GeoDatabase's optional MaxMind (.mmdb) backend.
        .systemLibrary(name: "CMaxMindDB", pkgConfig: "libmaxminddb", providers: [.apt(["libmaxminddb-dev"])]),
        .target(name: "TrackstarCore"),
        // The configuration: TOML reader, the validated model and the loaders of every section.
        .target(name: "TrackstarConfiguration", dependencies: ["TrackstarCore"]),
        // Click enrichment: country and ASN tables, user-agent classification and cache, bot rules.
        .target(name: "TrackstarEnrich", dependencies: ["TrackstarCore", "TrackstarConfiguration", "CLibLoc", "CPCRE2", "CMaxMindDB"]),
        .target(name: "TrackstarHTTP", dependencies: ["TrackstarCore"]),
        .target(name: "CTrackstarShims"),
        .target(name: "TrackstarStore", dependencies: [
            "TrackstarCore", "CTrackstarShims", .product(name: "Atomics", package: "swift-atomics"),
        ]),
        // liburing (Debian's liburing-dev): the request loops' receive path. C because liburing is
        // static inline functions and macros over the shared rings.
        .target(name: "CTrackstarURing", linkerSettings: [.linkedLibrary("uring")]),
        // C glue TrackstarIO owns: curl's multi-socket interface on a libuv loop (Debian's
        // libcurl4-openssl-dev and libuv1-dev), behind a header that shows neither library's types.
        .target(name: "CTrackstarIOShims", linkerSettings: [.linkedLibrary("curl"), .linkedLibrary("uv")]),
        // Release builds of the I/O layer skip Swift's dynamic exclusivity checks: every accept, close
        // and receive touched the loop's connection lists through them (swift_beginAccess and a
        // thread-local look-up, about 950 instructions per connection in callgrind). Debug builds, and
        // so every test run, keep them on, and the loop's state is touched by its own thread only.
        .target(name: "TrackstarIO", dependencies: [
            "CLibUV", "CTrackstarURing", "CTrackstarIOShims", "TrackstarCore", .product(name: "Atomics", package: "swift-atomics"),
        ], swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        .target(name: "TrackstarExport", dependencies: ["TrackstarCore", "TrackstarConfiguration", "TrackstarStore", "CSQLite", "CTrackstarCurl", "CTrackstarIOShims",
                                                        "CTrackstarSQLiteVFS"]),
        // The exporter's SQLite VFS: the default one plus yields and stepped write-back (issue 19 item 3).
        .target(name: "CTrackstarSQLiteVFS", dependencies: ["CTrackstarShims"], linkerSettings: [.linkedLibrary("sqlite3")]),
        // libcurl (Debian's libcurl4-openssl-dev): typed setopt/getinfo wrappers, for the dispatcher's
        // transfers and TrackstarExport's blocking HTTPClient; C because curl's setopt is variadic.
        .target(name: "CTrackstarCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(name: "TrackstarDelivery", dependencies: [
            "CTrackstarCurl", "TrackstarIO", "TrackstarCore", "TrackstarConfiguration", "TrackstarStore",
            .product(name: "HeapModule", package: "swift-collections"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .target(name: "TrackstarServer", dependencies: [
            "TrackstarCore", "TrackstarConfiguration", "TrackstarHTTP", "TrackstarStore", "TrackstarIO", "TrackstarExport", "TrackstarDelivery", "TrackstarEnrich",
            .product(name: "Atomics", package: "swift-atomics"), .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "trackstar", dependencies: [
            "TrackstarServer", "TrackstarConfiguration", "TrackstarStore", "TrackstarExport", "TrackstarDelivery", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // One bounded wait and the thread barrier the test targets share.
        .target(name: "TrackstarTestSupport", path: "Tests/TrackstarTestSupport"),
        // A clickhouse-server of a suite's own, for the export and the server tests.
        .target(name: "ClickHouseTestSupport", dependencies: ["TrackstarExport", "TrackstarTestSupport"], path: "Tests/ClickHouseTestSupport"),
        .testTarget(name: "TrackstarCoreTests", dependencies: ["TrackstarCore", "TrackstarConfiguration", "TrackstarTestSupport"]),
        .testTarget(name: "TrackstarHTTPTests", dependencies: ["TrackstarHTTP"]),
        .testTarget(name: "TrackstarStoreTests", dependencies: [
            "TrackstarStore", "TrackstarCore", "TrackstarTestSupport", .product(name: "Atomics", package: "swift-atomics"),
        ]),
        .testTarget(name: "TrackstarServerTests", dependencies: ["TrackstarServer", "TrackstarConfiguration", "TrackstarExport", "TrackstarIO", "TrackstarTestSupport", "ClickHouseTestSupport"]),
        .testTarget(name: "TrackstarExportTests", dependencies: ["TrackstarExport", "TrackstarConfiguration", "TrackstarTestSupport", "ClickHouseTestSupport"]),
        .testTarget(name: "TrackstarDeliveryTests", dependencies: ["TrackstarDelivery", "TrackstarConfiguration", "TrackstarExport", "TrackstarTestSupport"]),
        .testTarget(name: "TrackstarEnrichTests", dependencies: ["TrackstarEnrich", "TrackstarConfiguration", "TrackstarCore", "TrackstarTestSupport"]),
        .testTarget(name: "TrackstarIOTests", dependencies: ["TrackstarIO", "TrackstarCore", "TrackstarTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
