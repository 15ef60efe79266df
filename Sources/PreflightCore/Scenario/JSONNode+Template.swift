extension JSONNode {
    /// The node's string as a template (`{{var}}`), or nil with the problem recorded.
    package func template() -> Template? {
        guard let s = string(nonEmpty: false) else { return nil }
        switch Template.parse(s) {
        case .success(let t): return t
        case .failure(let r):
            diag.add(path, r)
            return nil
        }
    }
}
