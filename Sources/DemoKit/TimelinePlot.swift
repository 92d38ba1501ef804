import Resilience
import _LoadKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Draws a run as an SVG timeline: throughput, hit rate, latency and the breaker's state over time, with the
/// faults shaded across all panels — the outage and the recovery at a glance. Over a cluster the breaker gets one
/// lane per shard, so a dead shard shows OPEN while the others stay CLOSED.
///
/// Hand-written SVG (no dependency), sized for a README: 1000 × 700 (taller by a lane per extra shard), readable
/// when scaled down.
///
/// ```swift
/// let svg = TimelinePlot(result: result).svg
/// ```
package struct TimelinePlot: Sendable {
    package let result: DemoResult

    package init(result: DemoResult) {
        self.result = result
    }

    // Layout.
    private static let width = 1000.0
    private static let left = 86.0
    private static let right = 28.0
    private static let bandLabelTop = 84.0
    private static let throughputPanel = Panel(top: 126, height: 120)
    private static let originPanel = Panel(top: 270, height: 56)
    private static let hitRatePanel = Panel(top: 350, height: 56)
    private static let latencyPanel = Panel(top: 430, height: 150)
    private static let breakerPanel = Panel(top: 592, height: 26)
    /// Over a cluster, one lane per shard instead of the one breaker strip.
    private static let shardLaneHeight = 20.0
    private static let shardLaneGap = 4.0

    /// The average advance of an 11 px character, for laying out legends without measuring text.
    private static let characterWidth = 6.3

    // Colours.
    private static let throughputColor = "#2563eb"
    private static let originColor = "#ea580c"
    private static let hitColor = "#16a34a"
    private static let p50Color = "#7c3aed"
    private static let p99Color = "#dc2626"
    private static let cacheColor = "#111827"
    private static let deadlineColor = "#991b1b"

    private struct Panel {
        var top: Double
        var height: Double
        var bottom: Double { top + height }
    }

    /// A stretch of time during which a fault was in force.
    struct FaultPeriod: Equatable {
        var start: Duration
        var end: Duration
        var label: String
        var isDown: Bool
    }

    /// The breaker's lanes: one, or over a cluster one per shard, each with its label and its transitions.
    var lanes: [(label: String, transitions: [BreakerTransition])] {
        guard result.configuration.isCluster else { return [("breaker", result.transitions)] }
        let labels = result.shardLabels
        if labels.isEmpty { return [("breaker", [])] }
        return labels.map { ("shard \($0 == "unassigned" ? "?" : $0)", result.transitions.of(shard: $0)) }
    }

    /// The strip (or stack of shard lanes) of the breaker's states.
    private var breakerArea: Panel {
        let count = Double(lanes.count)
        if count <= 1 { return Self.breakerPanel }
        return Panel(
            top: Self.breakerPanel.top, height: count * Self.shardLaneHeight + (count - 1) * Self.shardLaneGap)
    }

    /// The picture's height: room for the lanes, the reaction labels, the time axis and the legend.
    private var height: Double { breakerArea.bottom + 82 }

    /// The SVG document.
    package var svg: String {
        let height = self.height
        var svg = SVGBuilder(width: Self.width, height: height)
        svg.rect(x: 0, y: 0, width: Self.width, height: height, fill: "#ffffff")
        drawTitle(&svg)
        drawFaultBands(&svg)
        drawThroughput(&svg)
        drawOrigin(&svg)
        drawHitRate(&svg)
        drawLatency(&svg)
        drawBreaker(&svg)
        drawTimeAxis(&svg)
        return svg.document
    }

    // MARK: - Scales

    private var span: Double { max(result.elapsed.seconds, result.configuration.duration.seconds, 1) }
    private var plotWidth: Double { Self.width - Self.left - Self.right }

    private func x(_ time: Duration) -> Double { x(time.seconds) }
    private func x(_ seconds: Double) -> Double {
        Self.left + min(max(seconds, 0), span) / span * plotWidth
    }

    /// The middle of an interval, where its figures are drawn.
    private func midpoint(_ interval: DemoInterval) -> Double {
        interval.at.seconds - interval.length.seconds / 2
    }

    // MARK: - Parts

    private func drawTitle(_ svg: inout SVGBuilder) {
        let configuration = result.configuration
        let totals = result.totals
        let verdict =
            result.passed
            ? "no error escaped, every cache call within \(DurationText.format(configuration.callDeadline))"
            : "\(totals.escapedErrors) errors escaped, \(totals.overruns) calls overran"
        svg.text(
            "resilient-cache demo — a Redis outage degrades calls to misses; the cache heals itself",
            x: Self.left, y: 26, size: 17, weight: "bold")
        svg.text(
            "\(configuration.concurrency) callers · \(grouped(configuration.keys)) Zipf-skewed keys · origin query "
                + "\(DurationText.format(configuration.originLatency)) · command timeout "
                + "\(DurationText.format(configuration.commandTimeout)) · breaker opens for "
                + "\(DurationText.format(configuration.openDuration))",
            x: Self.left, y: 46, size: 12, fill: "#374151")
        svg.text(
            "\(grouped(totals.calls)) calls in \(DurationText.format(result.elapsed)) · hit rate "
                + "\(percent(totals.hitRate)) · \(grouped(totals.degraded)) degraded to misses · \(verdict)",
            x: Self.left, y: 63, size: 12, weight: "bold", fill: result.passed ? "#166534" : Self.p99Color)
    }

    private func drawFaultBands(_ svg: inout SVGBuilder) {
        let top = Self.throughputPanel.top
        let bottom = breakerArea.bottom
        for period in Self.faultPeriods(result.faults, end: result.elapsed) {
            let x0 = x(period.start)
            let x1 = max(x(period.end), x0 + 1)
            svg.rect(
                x: x0, y: top, width: x1 - x0, height: bottom - top,
                fill: period.isDown ? "#fecaca" : "#fde68a", opacity: period.isDown ? 0.55 : 0.6)
            let center = (x0 + x1) / 2
            svg.text(
                period.label, x: center, y: Self.bandLabelTop, size: 12, weight: "bold", anchor: "middle",
                fill: period.isDown ? "#991b1b" : "#92400e")
            svg.text(
                "\(fixed(period.start.seconds, digits: 1))s – \(fixed(period.end.seconds, digits: 1))s",
                x: center, y: Self.bandLabelTop + 15, size: 11, anchor: "middle", fill: "#4b5563")
        }
        // A line at each fault event, across every panel.
        for event in result.faults where !event.failed {
            svg.line(x1: x(event.at), y1: top, x2: x(event.at), y2: bottom, stroke: "#6b7280", width: 1, dash: "3,3")
        }
    }

    private func drawThroughput(_ svg: inout SVGBuilder) {
        drawRate(
            &svg, Self.throughputPanel, values: result.intervals.map(\.callsPerSecond), color: Self.throughputColor,
            axisLabel: "calls/s", legend: "cache calls/s: what the service gets done", gridSteps: 4)
    }

    private func drawOrigin(_ svg: inout SVGBuilder) {
        drawRate(
            &svg, Self.originPanel, values: result.intervals.map(\.originCallsPerSecond), color: Self.originColor,
            axisLabel: "origin/s", legend: "origin queries/s: misses that reach the database (one per key at a time)",
            gridSteps: 2)
    }

    /// A per-second rate as a filled line, on a linear scale from 0.
    private func drawRate(
        _ svg: inout SVGBuilder, _ panel: Panel, values: [Double], color: String, axisLabel: String,
        legend: String, gridSteps: Int
    ) {
        let peak = values.max() ?? 0
        // A round step, so every grid label is a round number.
        let top = Self.niceCeiling(max(peak * 1.15, 10) / Double(gridSteps)) * Double(gridSteps)
        func y(_ value: Double) -> Double { panel.bottom - min(value, top) / top * panel.height }
        drawFrame(&svg, panel)
        for step in 0...gridSteps {
            let value = top * Double(step) / Double(gridSteps)
            if step > 0 { svg.gridLine(x1: Self.left, x2: Self.width - Self.right, y: y(value)) }
            svg.text(Self.compact(value), x: Self.left - 8, y: y(value) + 4, size: 11, anchor: "end", fill: "#4b5563")
        }
        svg.text(axisLabel, x: 18, y: panel.top + panel.height / 2, size: 12, anchor: "middle", rotate: true)
        let points = zip(result.intervals, values).map { (x(midpoint($0.0)), y($0.1)) }
        if let first = points.first, let last = points.last {
            let area = [(first.0, panel.bottom)] + points + [(last.0, panel.bottom)]
            svg.polygon(area, fill: color, opacity: 0.15)
        }
        svg.polyline(points, stroke: color, width: 2)
        drawLegend(&svg, above: panel, [(legend, color, nil)])
    }

    private func drawHitRate(_ svg: inout SVGBuilder) {
        let panel = Self.hitRatePanel
        func y(_ fraction: Double) -> Double { panel.bottom - fraction * panel.height }
        drawFrame(&svg, panel)
        for fraction in [0.0, 0.5, 1.0] {
            if fraction > 0 { svg.gridLine(x1: Self.left, x2: Self.width - Self.right, y: y(fraction)) }
            svg.text(
                "\(Int(fraction * 100))%", x: Self.left - 8, y: y(fraction) + 4, size: 11, anchor: "end",
                fill: "#4b5563")
        }
        svg.text("hit rate", x: 18, y: panel.top + panel.height / 2, size: 12, anchor: "middle", rotate: true)
        let points = result.intervals.compactMap { interval in
            interval.hitRate.map { (x(midpoint(interval)), y($0)) }
        }
        svg.polyline(points, stroke: Self.hitColor, width: 2)
        drawLegend(&svg, above: panel, [("hit rate: reads served from Redis", Self.hitColor, nil)])
    }

    private func drawLatency(_ svg: inout SVGBuilder) {
        let panel = Self.latencyPanel
        let intervals = result.intervals.filter { $0.calls > 0 }
        let deadline = Double(result.configuration.callDeadline.microseconds)
        let lowest = intervals.map { Double(max($0.p50Microseconds, 1)) }.min() ?? 100
        let highest = max(
            intervals.map { Double(max($0.p99Microseconds, $0.worstCacheMicroseconds)) }.max() ?? 1000, deadline)
        let low = Self.power10(floor: max(lowest, 10))
        let high = Self.power10(ceiling: highest * 1.05)
        let decades = log10(high) - log10(low)
        func y(_ microseconds: Double) -> Double {
            let value = min(max(microseconds, low), high)
            return panel.bottom - (log10(value) - log10(low)) / decades * panel.height
        }
        drawFrame(&svg, panel)
        var decade = low
        while decade <= high * 1.0001 {
            if decade > low { svg.gridLine(x1: Self.left, x2: Self.width - Self.right, y: y(decade)) }
            svg.text(
                DurationText.formatMicroseconds(UInt64(decade)), x: Self.left - 8, y: y(decade) + 4, size: 11,
                anchor: "end", fill: "#4b5563")
            decade *= 10
        }
        svg.text(
            "latency per call (log)", x: 18, y: panel.top + panel.height / 2, size: 12, anchor: "middle", rotate: true)
        svg.line(
            x1: Self.left, y1: y(deadline), x2: Self.width - Self.right, y2: y(deadline), stroke: Self.deadlineColor,
            width: 1.5, dash: "8,4")
        svg.text(
            "deadline of a cache call: \(DurationText.format(result.configuration.callDeadline))",
            x: Self.width - Self.right - 6, y: y(deadline) - 5, size: 11, anchor: "end", fill: Self.deadlineColor)
        svg.polyline(
            intervals.map { (x(midpoint($0)), y(Double($0.worstCacheMicroseconds))) }, stroke: Self.cacheColor,
            width: 1.5, dash: "2,3")
        svg.polyline(
            intervals.map { (x(midpoint($0)), y(Double($0.p99Microseconds))) }, stroke: Self.p99Color, width: 2)
        svg.polyline(
            intervals.map { (x(midpoint($0)), y(Double($0.p50Microseconds))) }, stroke: Self.p50Color, width: 2)
        drawLegend(
            &svg, above: panel,
            [
                ("p50", Self.p50Color, nil),
                ("p99", Self.p99Color, nil),
                ("slowest cache part of a call (origin excluded)", Self.cacheColor, "2,3"),
            ])
    }

    private func drawBreaker(_ svg: inout SVGBuilder) {
        let lanes = self.lanes
        let laneHeight = lanes.count == 1 ? Self.breakerPanel.height : Self.shardLaneHeight
        for (index, lane) in lanes.enumerated() {
            let top = Self.breakerPanel.top + Double(index) * (laneHeight + Self.shardLaneGap)
            drawLane(&svg, Panel(top: top, height: laneHeight), label: lane.label, transitions: lane.transitions)
        }
        let panel = breakerArea
        // How fast the breaker reacted, under the strip.
        var lastLabelEnd = -Double.infinity
        let outages = result.shardOutages
        for reaction in result.reactions {
            var text: String
            switch reaction.outcome {
            case .opened(let after): text = "OPEN +\(DurationText.format(after))"
            case .closed(let after): text = "CLOSED +\(DurationText.format(after))"
            default: continue
            }
            if let shard = reaction.event.shard {
                text = "shard \(shard) " + text
                // A shard fails over by itself: its breaker closes again before the fault is cleared.
                if let outage = outages.first(where: { $0.event == reaction.event }), outage.closedBeforeClearing,
                    let closed = outage.closedAfter
                {
                    text += ", CLOSED +\(DurationText.format(closed))"
                }
            }
            let start = x(reaction.event.at)
            let position = max(start, lastLabelEnd + 6)
            let textWidth = Double(text.count + 2) * 6
            let placed = min(position - 4, Self.width - 4 - textWidth)
            svg.text("▲ " + text, x: placed, y: panel.bottom + 36, size: 10, fill: "#374151")
            lastLabelEnd = placed + textWidth
        }
        drawLegend(
            &svg, y: panel.bottom + 70,
            [
                ("CLOSED", Self.stateColor(.closed), nil),
                ("HALF_OPEN", Self.stateColor(.halfOpen), nil),
                ("OPEN (calls skip Redis)", Self.stateColor(.open), nil),
                ("Redis hung / busy", "#fde68a", nil),
                ("Redis down", "#fecaca", nil),
            ], swatches: true)
    }

    /// One strip of breaker states, labelled on the left.
    private func drawLane(
        _ svg: inout SVGBuilder, _ panel: Panel, label: String, transitions: [BreakerTransition]
    ) {
        svg.text(
            label, x: Self.left - 8, y: panel.top + panel.height / 2 + 4, size: 12, weight: "bold", anchor: "end")
        var segments: [(start: Duration, end: Duration, state: CircuitBreakerState)] = []
        var state = CircuitBreakerState.closed
        var since = Duration.zero
        for transition in transitions where transition.at <= result.elapsed {
            segments.append((since, transition.at, state))
            state = transition.to
            since = transition.at
        }
        segments.append((since, result.elapsed, state))
        for segment in segments where segment.end > segment.start {
            let x0 = x(segment.start)
            let x1 = max(x(segment.end), x0 + 1)
            svg.rect(x: x0, y: panel.top, width: x1 - x0, height: panel.height, fill: Self.stateColor(segment.state))
            let label = segment.state.description
            if x1 - x0 > Double(label.count) * 7.5 + 8 {
                svg.text(
                    label, x: (x0 + x1) / 2, y: panel.top + panel.height / 2 + 4, size: 11, weight: "bold",
                    anchor: "middle", fill: "#ffffff")
            }
        }
        svg.rect(x: Self.left, y: panel.top, width: plotWidth, height: panel.height, fill: "none", stroke: "#9ca3af")
    }

    private func drawTimeAxis(_ svg: inout SVGBuilder) {
        let step = Self.niceStep(span / 10)
        var tick = 0.0
        let bottom = breakerArea.bottom
        let y = bottom + 16
        while tick <= span + 0.0001 {
            svg.text("\(Self.compactSeconds(tick))s", x: x(tick), y: y, size: 11, anchor: "middle", fill: "#4b5563")
            svg.line(
                x1: x(tick), y1: bottom, x2: x(tick), y2: bottom + 4,
                stroke: "#6b7280", width: 1)
            tick += step
        }
    }

    private func drawFrame(_ svg: inout SVGBuilder, _ panel: Panel) {
        svg.rect(x: Self.left, y: panel.top, width: plotWidth, height: panel.height, fill: "none", stroke: "#9ca3af")
        var tick = 0.0
        let step = Self.niceStep(span / 10)
        while tick <= span + 0.0001 {
            if tick > 0 {
                svg.line(x1: x(tick), y1: panel.top, x2: x(tick), y2: panel.bottom, stroke: "#f3f4f6", width: 1)
            }
            tick += step
        }
    }

    /// Legend entries in a row, left-aligned, with their baseline at `y` (a line swatch, or a box with
    /// `swatches`). Panels get theirs just above them, so no legend hides data.
    private func drawLegend(
        _ svg: inout SVGBuilder,
        y: Double,
        _ entries: [(label: String, color: String, dash: String?)],
        swatches: Bool = false
    ) {
        var position = Self.left
        for entry in entries {
            if swatches {
                svg.rect(x: position, y: y - 9, width: 12, height: 10, fill: entry.color, stroke: "#9ca3af")
            } else {
                svg.line(
                    x1: position, y1: y - 4, x2: position + 16, y2: y - 4, stroke: entry.color, width: 2.5,
                    dash: entry.dash)
            }
            let textX = position + (swatches ? 16 : 21)
            svg.text(entry.label, x: textX, y: y, size: 11, fill: "#1f2937")
            position = textX + Double(entry.label.count) * Self.characterWidth + 18
        }
    }

    private func drawLegend(
        _ svg: inout SVGBuilder,
        above panel: Panel,
        _ entries: [(label: String, color: String, dash: String?)]
    ) {
        drawLegend(&svg, y: panel.top - 6, entries)
    }

    // MARK: - Helpers

    /// The stretches during which a fault was in force, from the applied fault events.
    static func faultPeriods(_ events: [FaultEvent], end: Duration) -> [FaultPeriod] {
        var periods: [FaultPeriod] = []
        var open: FaultPeriod?
        for event in events where !event.failed {
            if var current = open {
                current.end = event.at
                periods.append(current)
                open = nil
            }
            guard event.isOnset else { continue }
            let action = event.action
            let (label, isDown): (String, Bool) =
                switch action {
                case "hang": ("Redis hung (SIGSTOP)", false)
                case "stop": ("Redis stopped (SIGTERM)", true)
                case "kill": ("Redis killed (SIGKILL)", true)
                case _ where action.hasPrefix("kill-shard"):
                    ("shard \(event.shard.map(String.init) ?? "?") primary killed (SIGKILL)", true)
                case _ where action.hasPrefix("hang-shard"):
                    ("shard \(event.shard.map(String.init) ?? "?") primary hung (SIGSTOP)", false)
                case "proxy-reset", "proxy-refuse": ("network: \(action)", true)
                case _ where action.hasPrefix("proxy-"): ("network: \(action)", false)
                case _ where action.hasPrefix("pause"): ("Redis paused (\(action))", false)
                case _ where action.hasPrefix("client-kill"): ("connections cut (\(action))", false)
                default: ("Redis busy (DEBUG \(action))", false)
                }
            open = FaultPeriod(start: event.at, end: end, label: label, isDown: isDown)
        }
        if let open { periods.append(open) }
        return periods
    }

    private static func stateColor(_ state: CircuitBreakerState) -> String {
        switch state {
        case .closed: "#22c55e"
        case .halfOpen: "#f59e0b"
        case .open: "#dc2626"
        }
    }

    /// A round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × a power of ten) of at least `value`.
    static func niceCeiling(_ value: Double) -> Double {
        let magnitude = power10(floor: value)
        for factor in [1.0, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10] where magnitude * factor >= value {
            return magnitude * factor
        }
        return magnitude * 10
    }

    /// A tick step of 1, 2, 5, 10, 15, 30, 60… seconds near `rough`.
    static func niceStep(_ rough: Double) -> Double {
        for step in [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600] where step >= rough {
            return step
        }
        return 600
    }

    static func power10(floor value: Double) -> Double {
        var power = 1.0
        while power * 10 <= value { power *= 10 }
        while power > value && power > 1e-9 { power /= 10 }
        return power
    }

    static func power10(ceiling value: Double) -> Double {
        var power = 1.0
        while power < value { power *= 10 }
        return power
    }

    /// `40k`, `1.5k`, `250`.
    static func compact(_ value: Double) -> String {
        if value >= 1000 { return trimmed(fixed(value / 1000, digits: 2)) + "k" }
        return trimmed(fixed(value, digits: 1))
    }

    static func compactSeconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : fixed(value, digits: 1)
    }
}

/// Accumulates SVG elements; coordinates are written with one decimal.
struct SVGBuilder {
    private var body = ""
    let width: Double
    let height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    var document: String {
        """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
        viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        \(body)</svg>

        """
    }

    mutating func rect(
        x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil,
        opacity: Double? = nil
    ) {
        var element = "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"\(fill)\""
        if let stroke { element += " stroke=\"\(stroke)\"" }
        if let opacity { element += " fill-opacity=\"\(n(opacity, digits: 2))\"" }
        body += element + "/>\n"
    }

    mutating func line(
        x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double, dash: String? = nil
    ) {
        var element = "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke=\"\(stroke)\""
        element += " stroke-width=\"\(n(width))\""
        if let dash { element += " stroke-dasharray=\"\(dash)\"" }
        body += element + "/>\n"
    }

    mutating func gridLine(x1: Double, x2: Double, y: Double) {
        line(x1: x1, y1: y, x2: x2, y2: y, stroke: "#e5e7eb", width: 1)
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double, dash: String? = nil) {
        guard points.count > 1 else { return }
        var element = "<polyline fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(n(width))\""
        element += " stroke-linejoin=\"round\""
        if let dash { element += " stroke-dasharray=\"\(dash)\"" }
        element += " points=\"" + points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ") + "\"/>\n"
        body += element
    }

    mutating func polygon(_ points: [(Double, Double)], fill: String, opacity: Double) {
        guard points.count > 2 else { return }
        body +=
            "<polygon fill=\"\(fill)\" fill-opacity=\"\(n(opacity, digits: 2))\" stroke=\"none\" points=\""
            + points.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ") + "\"/>\n"
    }

    mutating func text(
        _ content: String, x: Double, y: Double, size: Double, weight: String? = nil, anchor: String? = nil,
        fill: String = "#111827", rotate: Bool = false
    ) {
        var element = "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(n(size))\" fill=\"\(fill)\""
        if let weight { element += " font-weight=\"\(weight)\"" }
        if let anchor { element += " text-anchor=\"\(anchor)\"" }
        if rotate { element += " transform=\"rotate(-90 \(n(x)) \(n(y)))\"" }
        body += element + ">" + Self.escape(content) + "</text>\n"
    }

    private func n(_ value: Double, digits: Int = 1) -> String {
        var text = fixed(value, digits: digits)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

extension TimelinePlot {
    /// A file that could not be written.
    package struct WriteError: Error, Sendable, CustomStringConvertible {
        package let path: String
        package let reason: String
        package var description: String { "\(path): \(reason)" }
    }

    /// Writes ``svg`` to `path`, replacing the file.
    package func write(to path: String) throws(WriteError) {
        guard let file = fopen(path, "w") else {
            throw WriteError(path: path, reason: String(cString: strerror(errno)))
        }
        let bytes = Array(svg.utf8)
        let written = fwrite(bytes, 1, bytes.count, file)
        let closed = fclose(file)
        guard written == bytes.count, closed == 0 else {
            throw WriteError(path: path, reason: String(cString: strerror(errno)))
        }
    }
}
