// Live tests of what keeps a click loop's core free of stalls (issue 19 item 3): the snapshot thread
// runs in the idle CPU class while it keeps time, and new segment files are mapped without readahead,
// so a loop's first write to a page never fills megabytes of page cache on the loop's time.
import Foundation
import Testing
import TrackstarStore
import TrackstarTestSupport

@Suite("loop stalls")
struct LoopStallTests {
    @Test func theSnapshotThreadRunsInTheIdleClassWhileItKeepsTime() throws {
        guard BackgroundPriority.idleIsReversible else { return }  // an unprivileged run: nice 10 throughout
        let server = try LiveServer()
        let idle = eventually(within: 20) {
            ((try? server.admin().get("/metrics").body) ?? "").contains("\ntrackstar_snapshot_idle_thread 1\n")
        }
        #expect(idle, "\((try? server.admin().get("/metrics").body) ?? "")")
        // A second's interval syncs later it is still there: finishing a turn on time keeps it idle.
        let c = try server.connect()
        for _ in 0..<20 { #expect(try c.get("/click?offer_id=1&aff_id=7").status == 302) }
        let syncedOnce = eventually(within: 20) {
            ((try? server.admin().get("/metrics").body) ?? "").contains("\ntrackstar_snapshot_idle_thread 1\n")
                && !server.stderrText.contains("the snapshot thread finished a turn")
        }
        #expect(syncedOnce, "\(server.stderrText)")
    }

    @Test func newSegmentFilesAreMappedWithoutReadahead() throws {
        let server = try LiveServer(loops: 1)
        let c = try server.connect()
        #expect(try c.get("/click?offer_id=1&aff_id=7").status == 302)
        // Read to the end (a /proc file reports no size).
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/\(server.process.processIdentifier)/smaps"))
        let smaps = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        handle.closeFile()
        // A mapping's header line names its file; its fields follow, VmFlags last ("rr": random-read advice).
        var flags: [String: String] = [:]
        var current: String?
        for line in smaps.split(separator: "\n") {
            if line.range(of: #"^[0-9a-f]+-[0-9a-f]+ "#, options: .regularExpression) != nil {
                let name = line.split(separator: "/").last.map(String.init)
                current = line.contains(server.dataPath) && name?.hasPrefix("clicks-000000.") == true ? name : nil
            } else if line.hasPrefix("VmFlags:"), let name = current {
                flags[name] = String(line)
            }
        }
        #expect(flags.keys.sorted() == ["clicks-000000.bytes", "clicks-000000.rec"], "\(flags)")
        for (name, line) in flags { #expect(line.split(separator: " ").contains("rr"), "\(name): \(line)") }
    }
}
