#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Draws key indices with a Zipf (s = 1) skew, so a few keys are hot and the hit rate is high while Redis is
/// healthy: with 1,000 keys the hottest 20 % take about 80 % of the draws.
///
/// Sampling is a binary search in the cumulative distribution, shared read-only by every caller.
struct KeyDistribution: Sendable {
    private let cumulative: [Double]

    init(keys: Int, exponent: Double = 1.0) {
        precondition(keys >= 1, "at least one key")
        var cumulative: [Double] = []
        cumulative.reserveCapacity(keys)
        var total = 0.0
        for rank in 1...keys {
            total += 1 / pow(Double(rank), exponent)
            cumulative.append(total)
        }
        self.cumulative = cumulative.map { $0 / total }
    }

    var count: Int { cumulative.count }

    /// A key index in `0..<count`; index 0 is the hottest.
    func sample(_ generator: inout some RandomNumberGenerator) -> Int {
        let u = Double.random(in: 0..<1, using: &generator)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] <= u { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The share of draws that land on the `n` hottest keys.
    func share(ofHottest n: Int) -> Double {
        guard n > 0 else { return 0 }
        return cumulative[min(n, cumulative.count) - 1]
    }
}
