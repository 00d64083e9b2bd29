// Benchmarks of the request paths: the click ID kernels, the HTTP parser, and whole click and
// postback requests through the handler. Warm paths must not allocate (mallocCountTotal == 0).
import Benchmark
import TrackstarCore
import TrackstarHTTP
import TrackstarIO
import TrackstarServer
#if canImport(Glibc)
import Glibc
#endif
import TrackstarConfiguration

let clickRequest = Array("GET /click?offer_id=1&aff_id=7&sub1=campaign-42&sub2=banner%20top&aff_click_id=abc123 HTTP/1.1\r\nHost: t.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\nAccept: */*\r\n\r\n".utf8)

func makeEndpoint() -> LocalEndpoint {
    var config = TrackstarConfig()
    config.storage.dataDir = "/tmp/trackstar-bench-\(getpid())"
    config.storage.maxConversions = 1 << 24
    config.storage.indexInitialCapacity = 1 << 24  // one generation, as the thresholds were taken with
    var offer = OfferConfig(id: 1, url: "https://shop.example/landing?cid={click_id}&a={aff_id}&s1={sub1}&s2={sub2}")
    offer.payout = 2_500_000
    offer.revenue = 4_000_000
    offer.multipleConversions = true
    config.offers = [offer]
    config.affiliates = [AffiliateConfig(id: 7)]
    return try! LocalEndpoint(config: config)
}

/// Mints a click through the endpoint and returns its ID text.
func mintID(_ endpoint: LocalEndpoint) -> String {
    let response = clickRequest.withUnsafeBytes { endpoint.handle($0, nowMillis: 1_790_000_000_000) }
    let text = String(decoding: response, as: UTF8.self)
    let start = text.range(of: "cid=")!.upperBound
    return String(text[start...].prefix(26))
}

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .cpuTotal, .mallocCountTotal, .throughput, .instructions]
    // Each sample runs 1000 requests (scaledIterations), so a single allocation per request would
    // show as +1000 over the harness's own per-sample baseline (the "harness baseline" benchmark).
    Benchmark.defaultConfiguration = .init(metrics: metrics, scalingFactor: .kilo, maxDuration: .seconds(2),
                                           maxIterations: 100_000)
    // Built once, outside any measurement: each endpoint maps its tables and index at start.
    let clickEndpoint = makeEndpoint(), postbackEndpoint = makeEndpoint(), forgedEndpoint = makeEndpoint()

    // Names use no spaces: the threshold files are named after them, and benchmark 1.38 writes spaces
    // there as underscores but reads them back verbatim (so a name with spaces never finds its file).
    Benchmark("harness_baseline_(empty_loop)") { benchmark in
        for i in benchmark.scaledIterations { blackHole(i) }
    }

    Benchmark("HTTP_parse_of_a_typical_click_request") { benchmark in
        clickRequest.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { blackHole(HTTPParser.parse(raw, limits: HTTPLimits())) }
        }
    }

    Benchmark("Click_ID_encode_(mint_tag)") { benchmark in
        let codec = ClickIDCodec(currentKey: SipHashKey(k0: 1, k1: 2))
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        for i in benchmark.scaledIterations {
            withUnsafeMutableBytes(of: &out) { raw in
                codec.encode(ClickID(node: 0, shard: 1, sequence: UInt64(i), mintMinute: 1000, keyID: 0), into: raw.baseAddress!)
            }
            blackHole(out)
        }
    }

    Benchmark("Click_ID_decode+verify") { benchmark in
        let codec = ClickIDCodec(currentKey: SipHashKey(k0: 1, k1: 2))
        var text = [UInt8](repeating: 0, count: 26)
        text.withUnsafeMutableBytes { codec.encode(ClickID(node: 0, shard: 1, sequence: 9, mintMinute: 1000, keyID: 0), into: $0.baseAddress!) }
        text.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { blackHole(codec.decode(raw)) }
        }
    }

    Benchmark("Click_request:_parse+mint+record+302") { benchmark in
        clickRequest.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { blackHole(clickEndpoint.handle(raw, nowMillis: 1_790_000_000_000)) }
        }
    }

    Benchmark("Postback_request:_parse+decode+verify+resolve+record+200") { benchmark in
        let id = mintID(postbackEndpoint)
        let request = Array("GET /postback?click_id=\(id)&amount=12.5 HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        benchmark.startMeasurement()
        request.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { blackHole(postbackEndpoint.handle(raw, nowMillis: 1_790_000_100_000)) }
        }
    }

    // A repeat of a recorded postback with an order id that needs trimming and a sender's currency:
    // the first request records, every later one is answered from the index as a duplicate.
    Benchmark("Postback_repeat:_trimmed_txid+currency_answered_as_duplicate") { benchmark in
        let id = mintID(postbackEndpoint)
        let request = Array("GET /postback?click_id=\(id)&txid=%20order-1%E2%80%8B&amount=12.5&currency=jpy HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        request.withUnsafeBytes { raw in blackHole(postbackEndpoint.handle(raw, nowMillis: 1_790_000_100_000)) }
        benchmark.startMeasurement()
        request.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { blackHole(postbackEndpoint.handle(raw, nowMillis: 1_790_000_100_000)) }
        }
    }

    Benchmark("Postback_request_with_a_forged_ID:_refused") { benchmark in
        var id = Array(mintID(forgedEndpoint).utf8)
        id[20] = id[20] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let request = Array("GET /postback?click_id=\(String(decoding: id, as: UTF8.self)) HTTP/1.1\r\nHost: t\r\n\r\n".utf8)
        benchmark.startMeasurement()
        request.withUnsafeBytes { raw in
            for _ in benchmark.scaledIterations { blackHole(forgedEndpoint.handle(raw, nowMillis: 1_790_000_100_000)) }
        }
    }
}
