import Testing

@testable import PreflightCore
@testable import PreflightKit

/// `--segment I/N` (#14): the N slices of a run add up exactly to the whole, on the executors' state machines.
@Suite struct SegmentTests {
    @Test func segmentsAreParsedAndBounded() {
        #expect(ExecutionSegment("0/3") == ExecutionSegment(index: 0, count: 3))
        #expect(ExecutionSegment("2/3")?.description == "2/3")
        for bad in ["3/3", "-1/3", "1/0", "1", "a/b", "1/2/3", "0/1025", ""] { #expect(ExecutionSegment(bad) == nil) }
        #expect(ExecutionSegment.whole.isWhole)
    }

    @Test func tenVUsOverThreeSegmentsAreFourThreeThree() {
        #expect((0..<3).map { ExecutionSegment(index: $0, count: 3)!.share(of: 10) } == [4, 3, 3])
    }

    /// Every N up to 64, with 1 to 3 event loops each, every total from a list of edges and 200 seeded draws up to
    /// 10⁶: the slices sum to the total, none is negative, and they differ by at most the number of loops.
    @Test func theSlicesOfEveryTotalAddUpToIt() {
        var rng = SplitMix64(seed: 14)
        let draws = (0..<200).map { _ in Int(rng.next() % 1_000_001) }
        for n in 1...64 {
            let edges = [0, 1, 2, n - 1, n, n + 1, 2 * n + 1, 999_999, 1_000_000]
            for loops in 1...3 {
                for total in edges + draws {
                    let shares = (0..<n).map { ExecutionSegment(index: $0, count: n)!.share(of: total, loops: loops) }
                    #expect(shares.reduce(0, +) == total, "N \(n), loops \(loops), total \(total)")
                    #expect(shares.allSatisfy { $0 >= 0 })
                    #expect(shares.max()! - shares.min()! <= loops)
                }
            }
        }
    }

    /// Runs `executor` as segment `segment` with `loops` event loops on the synthetic clock: every shard it owns;
    /// VUs by their global number.
    static func sends(
        _ executor: LoadSettings.Executor,
        segment: ExecutionSegment,
        loops: Int,
        latency: RunTime = 10_000_000
    ) -> [SimulatedShard.Send] {
        (0..<loops).flatMap { loop -> [SimulatedShard.Send] in
            let (index, count) = segment.shard(loop: loop, loops: loops)
            var sim = SimulatedShard(executor, shard: index, shards: count) { _, _ in latency }
            sim.run()
            // `vu` in a send is the shard's slot; the global VU number is what the report and the data see.
            return sim.sends.map {
                var send = $0
                send.vu = sim.machine.vuID(slot: $0.vu)
                return send
            }
        }
    }

    static let executors: [(String, LoadSettings.Executor)] = [
        (
            "constant-arrival-rate",
            .constantArrivalRate(
                .init(rate: 97, duration: 1, vus: OpenModelVUs(preAllocated: 3, max: 20, maxBacklog: 100))
            )
        ),
        (
            "ramping-arrival-rate",
            .rampingArrivalRate(
                .init(
                    stages: [.init(target: 60, duration: 1), .init(target: 0, duration: 1)],
                    vus: OpenModelVUs(preAllocated: 2, max: 20, maxBacklog: 100)
                )
            )
        ),
        ("constant-vus", .constantVUs(.init(vus: 7, duration: 1))),
        ("per-vu-iterations", .perVUIterations(.init(vus: 5, iterations: 3))),
        (
            "ramping-vus",
            .rampingVUs(.init(startVUs: 1, stages: [.init(target: 5, duration: 1), .init(target: 5, duration: 1)]))
        ),
    ]

    /// Three segments of two event loops each send, together, exactly what one process with one loop sends: the
    /// same number of iterations, no iteration or VU number in two segments, and segment I only numbers ≡ I (mod 3).
    @Test(arguments: executors.map(\.0))
    func threeSegmentsTogetherAreTheWholeRun(_ name: String) throws {
        let executor = try #require(Self.executors.first { $0.0 == name }?.1)
        let whole = Self.sends(executor, segment: .whole, loops: 1)
        var iterations: [Int] = []
        var vus: Set<Int> = []
        for i in 0..<3 {
            let segment = try #require(ExecutionSegment(index: i, count: 3))
            let part = Self.sends(executor, segment: segment, loops: 2)
            #expect(part.allSatisfy { $0.vu % 3 == i }, "VUs of segment \(i)")
            if executor.definition is ConstantArrivalRate {
                #expect(part.allSatisfy { $0.iteration % 3 == i }, "arrivals of segment \(i)")
            }
            let segmentVUs = Set(part.map(\.vu))
            #expect(segmentVUs.isDisjoint(with: vus))
            vus.formUnion(segmentVUs)
            iterations += part.map(\.iteration)
        }
        #expect(iterations.count == whole.count, "\(name): \(iterations.count) vs \(whole.count)")
        #expect(Set(iterations).count == iterations.count, "no iteration twice")
        if executor.isOpenModel { #expect(Set(iterations) == Set(whole.map(\.iteration))) }
    }
}
