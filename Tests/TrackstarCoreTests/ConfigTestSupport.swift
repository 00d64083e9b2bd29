// Helpers the configuration tests share: load a config text and get its problems or its model, and
// expect exactly one problem on a given line whose message names what to write instead.

import Testing
@testable import TrackstarCore
@testable import TrackstarConfiguration

/// The problems `text` produces, or [] when it loads.
func configProblems(_ text: String) -> [ConfigProblem] {
    if case .failure(let problems) = ConfigLoader.load(text: text) { return problems.problems }
    return []
}

/// The config `text` loads to; records an issue listing the problems when it does not load.
func loadedConfig(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> TrackstarConfig? {
    switch ConfigLoader.load(text: text) {
    case .success(let config): return config
    case .failure(let problems):
        Issue.record("unexpected problems: \(problems.map(\.description))", sourceLocation: sourceLocation)
        return nil
    }
}

/// Expects exactly one problem, on `line`, whose message contains every one of `fragments`.
func expectOneProblem(_ text: String, line: Int, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation) {
    let found = configProblems(text)
    #expect(found.count == 1, "problems: \(found.map(\.description))", sourceLocation: sourceLocation)
    guard let problem = found.first else { return }
    #expect(problem.line == line, "\(problem)", sourceLocation: sourceLocation)
    for fragment in fragments {
        #expect(problem.message.contains(fragment), "\(problem) lacks \(fragment)", sourceLocation: sourceLocation)
    }
}

/// The smallest valid offer, for configs that need one.
let minimalOffer = """
[[offers]]
id = 1
url = "https://shop.example/a?c={click_id}"

"""
