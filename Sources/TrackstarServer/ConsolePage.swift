enum ConsolePage {
    static func respond(_ request: AdminRequest) -> AdminResponse { .text(200, "console\n") }
}
