import CSI
import GRPCCore
import Logging
import Synchronization
import Testing

@testable import KRBDCSI

/// Keeps every record a logger emits.
final class CapturedLog: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Record]>([])
    var records: [Record] { storage.withLock { $0 } }

    var logger: Logger {
        var logger = Logger(label: "test") { _ in Handler(sink: self) }
        logger.logLevel = .trace
        return logger
    }

    func append(_ record: Record) { storage.withLock { $0.append(record) } }

    struct Handler: LogHandler {
        let sink: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.append(Record(level: event.level, message: event.message.description, metadata: event.metadata ?? [:]))
        }
    }
}

@Suite struct RPCLogTests {
    @Test func oneLinePerRPCWithCodeAndDuration() async throws {
        let captured = CapturedLog()
        let log = RPCLog(logger: captured.logger)
        let response = try await log.run(Fixtures.unstage) { "done" }
        #expect(response == "done")
        let record = try #require(captured.records.first)
        #expect(captured.records.count == 1)
        #expect(record.level == .info)
        #expect(record.metadata["method"] == "NodeUnstageVolume")
        #expect(record.metadata["volume_id"] == "vol-1")
        #expect(record.metadata["code"] == "OK")
        #expect(record.metadata["duration_ms"].map { "\($0)".contains(".") } == true)
    }

    @Test func invalidRequestNeverRunsTheBodyAndLogsItsCode() async {
        let captured = CapturedLog()
        let log = RPCLog(logger: captured.logger)
        var request = Fixtures.stage
        request.volumeID = ""
        await #expect(throws: RPCError.self) {
            _ = try await log.run(request) { () -> Int in
                Issue.record("body ran")
                return 0
            }
        }
        do {
            _ = try await log.run(request) { 0 }
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == "NodeStageVolume: volume_id is required")
        }
        #expect(captured.records.allSatisfy { $0.metadata["code"] == "INVALID_ARGUMENT" })
    }

    @Test func secretsReachNoLogLine() async throws {
        let captured = CapturedLog()
        let log = RPCLog(logger: captured.logger)
        var request = Fixtures.stage
        request.volumeCapability = Fixtures.capability(flags: ["password=hunter2"])
        _ = try? await log.run(request) { () throws(CSIError) -> Int in
            throw CSIError(.unimplemented, "NodeStageVolume: block access is not implemented")
        }
        let record = try #require(captured.records.first)
        #expect(record.metadata["code"] == "UNIMPLEMENTED")
        let everything = record.message + record.metadata.map { "\($0.key)=\($0.value)" }.joined()
        #expect(!everything.contains(RedactionTests.key))
        #expect(!everything.contains("hunter2"))
        #expect(everything.contains("<redacted>"))
    }

    @Test func otherErrorsBecomeInternal() async {
        struct Boom: Error {}
        let captured = CapturedLog()
        let log = RPCLog(logger: captured.logger)
        do {
            _ = try await log.run(Csi_V1_NodeGetInfoRequest()) { () throws -> Int in throw Boom() }
            Issue.record("no error")
        } catch {
            #expect(error.code == .internalError)
        }
        #expect(captured.records.first?.level == .error)
        #expect(captured.records.first?.metadata["code"] == "INTERNAL")
    }

    @Test func quietSuccessIsDebug() async throws {
        let captured = CapturedLog()
        _ = try await RPCLog(logger: captured.logger).run(Csi_V1_ProbeRequest(), quiet: true) { 1 }
        #expect(captured.records.first?.level == .debug)
    }

    @Test func milliseconds() {
        #expect(RPCLog.milliseconds(.microseconds(1234)) == "1.234")
        #expect(RPCLog.milliseconds(.microseconds(5)) == "0.005")
        #expect(RPCLog.milliseconds(.seconds(2)) == "2000.000")
    }
}
