/// A set of glob patterns indexed by literal prefix, so a key is tested only against the patterns that can match
/// it: an immutable radix trie over the patterns' ``GlobPattern/literalPrefix`` bytes.
///
/// A lookup walks the key down the trie — O(key length) byte comparisons however many patterns there are —
/// and tests the patterns stored at the nodes it passes, the ones whose literal prefix is a prefix of the key.
/// Patterns without a wildcard are found by the walk alone. ``patternsPerRead`` is the most patterns with a
/// wildcard any key can meet on its way down; the journal caps it.
///
/// Values are immutable and share structure: ``inserting(_:)`` and ``removing(_:)`` copy only the nodes on the
/// pattern's path, so the journal can publish a new index on every change and readers can match against the
/// one they hold without a lock.
final class PatternIndex: Sendable {
    static let empty = PatternIndex(root: Node(label: []), count: 0)

    /// The invalidation journal's default cap on ``patternsPerRead``.
    static let defaultPatternsPerReadLimit = 32

    private let root: Node
    /// How many patterns the index holds.
    let count: Int

    private init(root: Node, count: Int) {
        self.root = root
        self.count = count
    }

    /// An index of `globs`, each pattern once.
    convenience init(_ globs: some Sequence<GlobPattern>) {
        var index = PatternIndex.empty
        for glob in globs { index = index.inserting(glob) }
        self.init(root: index.root, count: index.count)
    }

    var isEmpty: Bool { count == 0 }

    /// The most patterns with a wildcard that one lookup can have to test.
    var patternsPerRead: Int { root.heaviest }

    /// Whether any pattern matches `key`.
    func matches(_ key: String) -> Bool {
        if isEmpty { return false }
        var key = key
        return key.withUTF8 { matches($0) }
    }

    func matches(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
        // The walk borrows the nodes instead of retaining each one it passes: they are all owned by `root`,
        // which `self` keeps alive for the whole walk.
        withExtendedLifetime(self) {
            var node = Unmanaged.passUnretained(root)
            var depth = 0
            while true {
                let step = node._withUnsafeGuaranteedRef { node in node.step(key, at: depth) }
                switch step {
                case .matched: return true
                case .unmatched: return false
                case .descend(let child, let next):
                    node = child
                    depth = next
                }
            }
        }
    }

    /// Whether `glob` itself (the same pattern bytes) is in the index.
    func contains(_ glob: GlobPattern) -> Bool {
        guard let node = root.descendant(spelling: glob.literalPrefix) else { return false }
        return (glob.isLiteral ? node.literals : node.wildcards).contains(glob)
    }

    /// The index with `glob` added; `self` when it is already there.
    func inserting(_ glob: GlobPattern) -> PatternIndex {
        if contains(glob) { return self }
        return PatternIndex(root: root.inserting(glob, depth: 0), count: count + 1)
    }

    /// The index without `glob`; `self` when it is not there.
    func removing(_ glob: GlobPattern) -> PatternIndex {
        if !contains(glob) { return self }
        return PatternIndex(root: root.removing(glob, depth: 0), count: count - 1)
    }

    /// The patterns with a wildcard on the most crowded path through `glob`'s node: those stored on the way
    /// down to it, at it, and on its busiest branch below. When ``patternsPerRead`` went over a cap as `glob`
    /// was inserted, these are the patterns to choose from to bring it back.
    func crowdedPath(through glob: GlobPattern) -> [GlobPattern] {
        var crowd: [GlobPattern] = []
        var node = root
        var depth = 0
        let literal = glob.literalPrefix
        while true {
            crowd += node.wildcards
            if depth == literal.count { break }
            guard let child = node.child(startingWith: literal[depth]), depth + child.label.count <= literal.count
            else { return crowd }
            depth += child.label.count
            node = child
        }
        while let busiest = node.children.max(by: { $0.heaviest < $1.heaviest }), busiest.heaviest > 0 {
            crowd += busiest.wildcards
            node = busiest
        }
        return crowd
    }

    /// A trie node: the bytes on the edge from its parent, the patterns whose literal prefix ends here, and
    /// children keyed by the first byte of their labels (sorted).
    final class Node: Sendable {
        let label: [UInt8]
        let childKeys: [UInt8]
        let children: [Node]
        /// Patterns without a wildcard, equal to the path to this node.
        let literals: [GlobPattern]
        /// Patterns with a wildcard whose literal prefix is the path to this node.
        let wildcards: [GlobPattern]
        /// The most wildcard patterns on a path from here down, this node's included.
        let heaviest: Int

        init(
            label: [UInt8],
            childKeys: [UInt8] = [],
            children: [Node] = [],
            literals: [GlobPattern] = [],
            wildcards: [GlobPattern] = []
        ) {
            self.label = label
            self.childKeys = childKeys
            self.children = children
            self.literals = literals
            self.wildcards = wildcards
            var below = 0
            for child in children where child.heaviest > below { below = child.heaviest }
            self.heaviest = wildcards.count + below
        }

        private var isVacant: Bool { literals.isEmpty && wildcards.isEmpty }

        enum Step {
            case matched
            case unmatched
            case descend(Unmanaged<Node>, depth: Int)
        }

        /// Tests the patterns stored here against `key`, of which the first `depth` bytes spell this node's
        /// path, and finds the child to go on with.
        @inline(__always)
        func step(_ key: UnsafeBufferPointer<UInt8>, at depth: Int) -> Step {
            if depth == key.count && !literals.isEmpty { return .matched }
            for glob in wildcards where glob.rest.matches(key, from: depth) { return .matched }
            if depth == key.count { return .unmatched }
            let (index, found) = slot(for: key[depth])
            if !found { return .unmatched }
            return children[index].following(key, at: depth)
        }

        @inline(__always)
        private func following(_ key: UnsafeBufferPointer<UInt8>, at depth: Int) -> Step {
            let length = label.count
            if key.count - depth < length { return .unmatched }
            var offset = 1
            while offset < length {
                if label[offset] != key[depth + offset] { return .unmatched }
                offset += 1
            }
            return .descend(Unmanaged.passUnretained(self), depth: depth + length)
        }

        /// The position of the child whose label starts with `byte`, or where it would go.
        private func slot(for byte: UInt8) -> (index: Int, found: Bool) {
            var low = 0
            var high = childKeys.count
            while low < high {
                let middle = (low + high) / 2
                if childKeys[middle] < byte { low = middle + 1 } else { high = middle }
            }
            return (low, low < childKeys.count && childKeys[low] == byte)
        }

        func child(startingWith byte: UInt8) -> Node? {
            let (index, found) = slot(for: byte)
            return found ? children[index] : nil
        }

        /// The node whose path is exactly `bytes`, if there is one.
        func descendant(spelling bytes: [UInt8]) -> Node? {
            var node = self
            var depth = 0
            while depth < bytes.count {
                guard let child = node.child(startingWith: bytes[depth]),
                    bytes.count - depth >= child.label.count,
                    bytes[depth..<(depth + child.label.count)].elementsEqual(child.label)
                else { return nil }
                depth += child.label.count
                node = child
            }
            return node
        }

        private func with(
            label: [UInt8]? = nil,
            childKeys: [UInt8]? = nil,
            children: [Node]? = nil,
            literals: [GlobPattern]? = nil,
            wildcards: [GlobPattern]? = nil
        ) -> Node {
            Node(
                label: label ?? self.label,
                childKeys: childKeys ?? self.childKeys,
                children: children ?? self.children,
                literals: literals ?? self.literals,
                wildcards: wildcards ?? self.wildcards
            )
        }

        private func adding(_ glob: GlobPattern) -> Node {
            glob.isLiteral ? with(literals: literals + [glob]) : with(wildcards: wildcards + [glob])
        }

        private func replacing(child: Node, at index: Int) -> Node {
            var children = self.children
            children[index] = child
            return with(children: children)
        }

        /// This node with `glob` added below it; `depth` bytes of the literal prefix lead to this node.
        func inserting(_ glob: GlobPattern, depth: Int) -> Node {
            let literal = glob.literalPrefix
            if depth == literal.count { return adding(glob) }
            let (index, found) = slot(for: literal[depth])
            guard found else {
                var childKeys = self.childKeys
                var children = self.children
                childKeys.insert(literal[depth], at: index)
                children.insert(Node(label: []).adding(glob).with(label: Array(literal[depth...])), at: index)
                return with(childKeys: childKeys, children: children)
            }
            let child = children[index]
            var common = 0
            while common < child.label.count, depth + common < literal.count,
                child.label[common] == literal[depth + common]
            {
                common += 1
            }
            if common == child.label.count {
                return replacing(child: child.inserting(glob, depth: depth + common), at: index)
            }
            // The new prefix ends or branches inside the child's label: split the edge.
            let lower = child.with(label: Array(child.label[common...]))
            let middle = Node(label: Array(child.label[..<common]), childKeys: [lower.label[0]], children: [lower])
            return replacing(child: middle.inserting(glob, depth: depth + common), at: index)
        }

        /// This node without `glob` (which must be below it), with emptied nodes pruned and single-child
        /// chains merged so the trie stays as small as its patterns.
        func removing(_ glob: GlobPattern, depth: Int) -> Node {
            let literal = glob.literalPrefix
            if depth == literal.count {
                return glob.isLiteral
                    ? with(literals: literals.filter { $0 != glob }) : with(wildcards: wildcards.filter { $0 != glob })
            }
            let (index, _) = slot(for: literal[depth])
            let child = children[index].removing(glob, depth: depth + children[index].label.count)
            if child.isVacant && child.children.isEmpty {
                var childKeys = self.childKeys
                var children = self.children
                childKeys.remove(at: index)
                children.remove(at: index)
                return with(childKeys: childKeys, children: children)
            }
            if child.isVacant && child.children.count == 1 {
                let grandchild = child.children[0]
                return replacing(child: grandchild.with(label: child.label + grandchild.label), at: index)
            }
            return replacing(child: child, at: index)
        }
    }
}
