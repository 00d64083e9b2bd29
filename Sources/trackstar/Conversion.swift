// `trackstar conversion DATA_DIR ID`: shows one conversion as recorded, with the parameters its
// sender's profile did not map (nothing a sender sends is dropped silently).
import ArgumentParser
import TrackstarServer

/// `trackstar conversion DATA_DIR CONVERSION_ID`.
struct Conversion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one recorded conversion (status, amounts, txid and the sender's unmapped parameters).")

    @Argument(help: "The data directory ([storage] data_dir).")
    var dataDir: String

    @Argument(help: "The conversion id a postback was answered with (conversion_id).")
    var id: UInt64

    func run() throws {
        switch Inspection.conversion(dataDir: dataDir, id: id) {
        case .success(let lines): for line in lines { print(line) }
        case .failure(let error):
            printError("trackstar: conversion: \(error)")
            throw ExitCode(1)
        }
    }
}
