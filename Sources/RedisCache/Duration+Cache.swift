extension Duration {
    /// The duration in seconds, for JSON and health endpoints.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
