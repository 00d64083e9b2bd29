// `trackstar catalog export`: the live catalog (the config file with every change made through the
// management API, from the catalog log in the data dir) as a TOML file that `check-config` accepts.
import ArgumentParser
import TrackstarServer
import TrackstarConfiguration

/// `trackstar catalog …`.
struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog", abstract: "The live catalog: the config file with the management API's changes.",
        subcommands: [Export.self])

    /// `trackstar catalog export --config FILE [--data-dir DIR]`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the live catalog as a configuration file (TOML) that check-config accepts.")

        @Option(name: .long, help: "Configuration file (TOML) the server runs with.")
        var config: String

        @Option(name: .customLong("data-dir"), help: "Data directory, overriding [storage] data_dir (holds catalog.log).")
        var dataDir: String?

        func run() throws {
            var settings = try loadConfig(config)
            if let dataDir { settings.storage.dataDir = dataDir }
            do {
                print(try CatalogExport.toml(source: try ConfigSource.read(config), config: settings), terminator: "")
            } catch {
                printError("trackstar: catalog export: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
