/// When each arrival of an open-model executor is due: a piecewise-linear rate, integrated and inverted.
///
/// Arrival `i` is due at the time the cumulative arrivals reach `i`, so arrival 0 starts at 0 and a constant rate
/// `r` puts arrival `i` at `i / r`. Pure, so executors can be tested without a clock.
public struct ArrivalSchedule: Sendable, Equatable {
    package struct Segment: Sendable, Equatable {
        package var startRate: Double  // per second
        package var endRate: Double
        package var duration: Double
        package var arrivalsBefore: Double
        package var startTime: Double
        package var arrivals: Double { (startRate + endRate) / 2 * duration }
    }

    package let segments: [Segment]
    /// Arrivals that fall inside the schedule (arrival indices `0..<total`).
    public let total: Int
    public let duration: Double

    public init(constantRate rate: Double, timeUnit: Double, duration: Double) {
        self.init(startRate: rate, timeUnit: timeUnit, stages: [.init(target: rate, duration: duration)])
    }

    public init(startRate: Double, timeUnit: Double, stages: [LoadSettings.Stage]) {
        var segs: [Segment] = []
        var before = 0.0
        var time = 0.0
        var rate = startRate / timeUnit
        for stage in stages {
            let end = stage.target / timeUnit
            let seg = Segment(
                startRate: rate,
                endRate: end,
                duration: stage.duration,
                arrivalsBefore: before,
                startTime: time
            )
            segs.append(seg)
            before += seg.arrivals
            time += stage.duration
            rate = end
        }
        segments = segs
        duration = time
        // Arrivals due strictly before the end; a tiny tolerance keeps 200/s × 3 s at exactly 600.
        total = Int((before - 1e-9).rounded(.up))
    }

    /// Seconds from the start at which arrival `i` is due, or nil when it falls after the schedule.
    public func offset(ofArrival i: Int) -> Double? {
        guard i >= 0, i < total else { return nil }
        let x = Double(i)
        for seg in segments where x < seg.arrivalsBefore + seg.arrivals || seg == segments.last {
            let local = x - seg.arrivalsBefore
            let a = (seg.endRate - seg.startRate) / (2 * seg.duration)
            let b = seg.startRate
            // Solve a·t² + b·t = local in a form that is stable for a = 0 and for ramps down.
            let disc = max(0, b * b + 4 * a * local)
            let denominator = b + disc.squareRoot()
            let t = denominator > 0 ? 2 * local / denominator : 0
            return seg.startTime + min(t, seg.duration)
        }
        return nil
    }
}

/// The VU target of `ramping-vus` over time: linear between stages.
public struct VUSchedule: Sendable, Equatable {
    public let startVUs: Int
    public let stages: [LoadSettings.Stage]

    public init(startVUs: Int, stages: [LoadSettings.Stage]) {
        self.startVUs = startVUs
        self.stages = stages
    }

    /// Seconds from the first stage's start to the last one's end.
    public var duration: Double { stages.reduce(0) { $0 + $1.duration } }

    /// The most VUs the schedule ever asks for.
    public var peak: Int { max(startVUs, Int(stages.map(\.target).max() ?? 0)) }

    /// How many VUs should be running at `t` seconds from the start.
    public func target(at t: Double) -> Int {
        var from = Double(startVUs)
        var begin = 0.0
        for stage in stages {
            if t < begin + stage.duration {
                let v = from + (stage.target - from) * (t - begin) / stage.duration
                return Int((v + 1e-9).rounded(.down))
            }
            from = stage.target
            begin += stage.duration
        }
        return Int(from)
    }

    /// The first time at or after `t` when the target is at least `n`, or nil when it never is again.
    ///
    /// A VU waiting for a ramp sleeps until exactly then, instead of polling.
    public func firstTime(reaching n: Int, after t: Double) -> Double? {
        var from = Double(startVUs)
        var begin = 0.0
        let goal = Double(n)
        for stage in stages {
            let end = begin + stage.duration
            defer {
                from = stage.target
                begin = end
            }
            guard end > t else { continue }
            let lo = max(t, begin)
            if target(at: lo) >= n { return lo }
            guard stage.target > from else { continue }
            let crossing = begin + (goal - 1e-9 - from) * stage.duration / (stage.target - from)
            guard crossing < end else { continue }
            // Floating point may put the exact crossing a hair below the target; step just past it.
            var candidate = max(crossing, lo)
            var nudge = 1e-9
            while target(at: candidate) < n, nudge < 1e-3 {
                candidate += nudge
                nudge *= 10
            }
            if target(at: candidate) >= n { return candidate }
        }
        return Int(from) >= n ? max(t, begin) : nil
    }
}
