"""workers.audit.coverage and the "continuous" and "recorded" rules of workers.audit.evaluate,
checked against a brute-force reference that marks each second k (standing for [k, k+1)) as
covered or not."""
from fractions import Fraction

from hypothesis import example, given, settings, strategies as st

from workers.audit import coverage
from workers.audit.evaluate import ClipFacts, Rule, StepFacts, evaluate_step

QUICK = settings(max_examples=200, deadline=None, database=None)
SPAN = 300

point = st.integers(0, SPAN)
interval = st.tuples(point, point).map(sorted).map(tuple)  # start <= end, zero-length included
intervals = st.lists(interval, max_size=8)


@st.composite
def window(draw):
    """[low, high] with integer ends; now and then an instant (low == high)."""
    low, high = sorted((draw(point), draw(point)))
    return (low, low) if draw(st.integers(0, 5)) == 0 else (low, high)


# -- the reference ------------------------------------------------------------------------------

def seconds(items) -> set[int]:
    return {k for start, end in items for k in range(start, end)}


def runs(marked: set[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive seconds as (first second, one past the last)."""
    out: list[list[int]] = []
    for k in sorted(marked):
        if out and out[-1][1] == k:
            out[-1][1] = k + 1
        else:
            out.append([k, k + 1])
    return [tuple(r) for r in out]


def first_longest(found: list[tuple[int, int]]):
    best = None
    for run in found:
        if best is None or run[1] - run[0] > best[1] - best[0]:
            best = run
    return best


def assert_merged(result):
    for start, end in result:
        assert end > start
    for (_, end), (start, _) in zip(result, result[1:]):
        assert start > end  # sorted, disjoint, not even touching


# -- coverage -----------------------------------------------------------------------------------

@QUICK
@given(intervals)
@example([(0, 1), (1, 2), (2, 2)])  # touching intervals join, zero-length ones vanish
def test_merge_is_the_union_of_seconds(items):
    merged = coverage.merge(items)
    assert_merged(merged)
    assert merged == runs(seconds(items))
    assert coverage.length(merged) == len(seconds(items))
    assert coverage.merge(merged) == merged


@QUICK
@given(intervals, intervals)
@example([(10, 20), (30, 40)], [(5, 10), (20, 30), (35, 35), (38, 50)])
def test_subtract_removes_the_seconds_of_the_holes(items, holes):
    result = coverage.subtract(coverage.merge(items), holes)
    assert_merged(result)
    assert result == runs(seconds(items) - seconds(holes))


@QUICK
@given(intervals, window())
def test_clip_to_keeps_the_seconds_inside(items, bounds):
    low, high = bounds
    inside = {k for k in seconds(items) if low <= k < high}
    clipped = coverage.clip_to(coverage.merge(items), low, high)
    assert_merged(clipped)
    assert clipped == runs(inside)
    assert coverage.length(clipped) == len(inside)


@QUICK
@given(intervals, window())
@example([(1, 2)], (0, 3))  # two longest gaps: the first is reported
def test_gaps_are_the_uncovered_runs_inside(items, bounds):
    low, high = bounds
    uncovered = runs(set(range(low, high)) - seconds(items))
    clipped = coverage.clip_to(coverage.merge(items), low, high)
    assert coverage.gaps(clipped, low, high) == uncovered
    assert coverage.longest_gap(clipped, low, high) == first_longest(uncovered)


@QUICK
@given(intervals, window())
@example([(0, 5)], (5, 5))
@example([(0, 5)], (6, 6))
def test_share_is_covered_seconds_over_the_window(items, bounds):
    low, high = bounds
    merged = coverage.merge(items)
    if high > low:
        covered = len({k for k in seconds(items) if low <= k < high})
        assert coverage.share(merged, low, high) == covered / (high - low)
    else:
        inside = any(start <= low <= end for start, end in items if end > start)
        assert coverage.share(merged, low, high) == (1.0 if inside else 0.0)
        # the same instant per second: the point touches a covered second on either side
        assert coverage.covers_point(merged, low) == bool({low - 1, low} & seconds(items))


@settings(max_examples=150, deadline=None, database=None)
@given(intervals, intervals, window())
def test_half_seconds_behave_like_seconds(items, holes, bounds):
    """Scaling every endpoint by 1/2 (exact in binary) scales every answer by 1/2."""
    def half(pairs):
        return [(a / 2, b / 2) for a, b in pairs]

    low, high = bounds
    merged = coverage.merge(items)
    assert coverage.merge(half(items)) == half(merged)
    assert coverage.subtract(half(merged), half(holes)) == half(coverage.subtract(merged, holes))
    clipped = coverage.clip_to(merged, low, high)
    assert coverage.gaps(half(clipped), low / 2, high / 2) == half(coverage.gaps(clipped, low, high))


# -- the continuous rule ------------------------------------------------------------------------

T0 = 1_777_597_200  # 2026-05-01T01:00:00Z
NOW = T0 + 30 * 86400  # long after every upload deadline
DEVICES = ("A", "B", "C")


@st.composite
def clip_spec(draw, low, high):
    """A clip near the step [low, high] so that most of them touch it."""
    start = draw(st.integers(max(0, low - 60), high + 30))
    duration = draw(st.integers(0, high - low + 90))  # 0: no duration, never counts
    holes = draw(st.lists(st.tuples(st.integers(0, duration), st.integers(0, duration)).map(sorted).map(tuple),
                          max_size=2))
    return draw(st.sampled_from(DEVICES)), start, start + duration, holes


@st.composite
def case(draw):
    low, high = draw(window())
    specs = draw(st.lists(clip_spec(low, high), min_size=1, max_size=5))
    rule = Rule("continuous", min_devices=draw(st.integers(1, 3)), max_gap_seconds=float(draw(st.integers(0, 60))),
                device_min_share=draw(st.integers(1, 20)) / 20)
    return low, high, specs, rule


def usable_seconds(start, end, holes) -> set[int]:
    return set(range(start, end)) - {k for s, e in holes for k in range(start + s, start + e)}


def reference(low, high, specs, rule):
    """Expected status, why of each clip, covered seconds, longest gap and counted devices, worked
    out per second from evaluate.py's rule text."""
    instant = low == high
    step = set(range(low, high))
    whys, usable_of = [], []
    for _, start, end, holes in specs:
        usable = usable_seconds(start, end, holes)
        if instant:
            counts = bool({low - 1, low} & usable)  # footage ending or starting at the instant contains it
            touches = start <= low <= end
        else:
            counts = bool(usable & step)
            touches = bool(set(range(start, end)) & step)
        if end <= start:
            whys.append("no_duration")
        else:
            whys.append("counted" if counts else "obstructed" if touches else "outside_step")
        usable_of.append(usable if whys[-1] == "counted" else set())

    union = set().union(*usable_of)
    gap = None if instant else first_longest(runs(step - union))
    too_long = gap is not None and gap[1] - gap[0] > rule.max_gap_seconds
    needed = Fraction(round(rule.device_min_share * 20), 20)
    devices = {}
    for (device, *_), why, usable in zip(specs, whys, usable_of):
        if why == "counted":
            devices.setdefault(device, set()).update(usable)
    enough = {}
    for device, usable in devices.items():
        share = Fraction(1 if {low - 1, low} & usable else 0) if instant else Fraction(len(usable & step), high - low)
        enough[device] = share >= needed
    ok = not too_long and sum(enough.values()) >= rule.min_devices
    if not specs:
        codes = {"no_footage"}
    elif "counted" not in whys:
        codes = {"no_usable_footage"}
    else:
        codes = {"gap_too_long"} if too_long else set()
        if sum(enough.values()) < rule.min_devices:
            codes.add("too_few_devices")
    covered = len(union & step)
    return dict(status="pass" if ok else "fail", instant_covered=bool({low - 1, low} & union), whys=whys,
                covered=covered, gap=gap, enough=enough, codes=codes,
                clip_covered=[len(u & step) for u in usable_of])


@settings(max_examples=300, deadline=None, database=None)
@given(case())
def test_continuous_rule_matches_the_per_second_reference(drawn):
    low, high, specs, rule = drawn
    step = StepFacts("S", "C", "2026-001", "U", "seizure", float(T0 + low), float(T0 + high))
    clips = [ClipFacts(id=f"c{i}", start=float(T0 + start), end=float(T0 + end), received=float(T0 + end + 60),
                       status="processed", kind="video", device_serial=device, offset=0.0,
                       obstructions=tuple((float(s), float(e), "covered") for s, e in holes))
             for i, (device, start, end, holes) in enumerate(specs)]
    result = evaluate_step(step, clips, rule, NOW)
    expected = reference(low, high, specs, rule)

    assert result.status == expected["status"]
    assert {r.code for r in result.reasons if r.severity == "fail"} == expected["codes"]
    assert not [r for r in result.reasons if r.severity == "warning"]
    verdicts = {v.clip.id: v for v in result.clips}
    assert [verdicts[f"c{i}"].why for i in range(len(specs))] == expected["whys"]
    assert [verdicts[f"c{i}"].covered_seconds for i in range(len(specs))] == expected["clip_covered"]
    assert result.covered_seconds == expected["covered"]
    if high > low:
        assert result.covered_share == expected["covered"] / (high - low)
    else:
        assert result.covered_share == (1.0 if expected["instant_covered"] else 0.0)
    if expected["gap"] is None:
        assert result.longest_gap is None
    else:
        assert result.longest_gap == (T0 + expected["gap"][0], T0 + expected["gap"][1])
    assert {d["device_serial"]: d["counted"] for d in result.devices} == expected["enough"]
    assert result.devices_counted == sum(expected["enough"].values())


# -- the recorded rule --------------------------------------------------------------------------

@settings(max_examples=200, deadline=None, database=None)
@given(window(), st.data())
def test_recorded_rule_matches_the_per_second_reference(bounds, data):
    """Passes iff usable footage overlaps the step widened by the link buffer (here one minute); a
    note when none of it falls in the step's own times."""
    low, high = bounds
    specs = data.draw(st.lists(clip_spec(low, high), min_size=1, max_size=3))
    rule = Rule("recorded", link_buffer_minutes=1)
    step = StepFacts("S", "C", "2026-001", "U", "hearing", float(T0 + low), float(T0 + high))
    clips = [ClipFacts(id=f"c{i}", start=float(T0 + start), end=float(T0 + end), received=float(T0 + end + 60),
                       status="processed", device_serial=device, offset=0.0,
                       obstructions=tuple((float(s), float(e), "dark") for s, e in holes))
             for i, (device, start, end, holes) in enumerate(specs)]
    result = evaluate_step(step, clips, rule, NOW)

    widened = set(range(low - 60, high + 60))
    usable = [usable_seconds(start, end, holes) for _, start, end, holes in specs]
    counted = [bool(u & widened) for u in usable]
    assert [v.counted for v in sorted(result.clips, key=lambda v: v.clip.id)] == counted
    assert result.status == ("pass" if any(counted) else "fail")
    in_step = set().union(*(u for u, c in zip(usable, counted) if c))
    own = bool(in_step & set(range(low, high))) if high > low else bool({low - 1, low} & in_step)
    assert ("within_buffer_only" in {r.code for r in result.reasons}) == (any(counted) and not own)
