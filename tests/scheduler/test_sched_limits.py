"""Control laws: pure and synchronous, fed samples by hand."""

import pytest

from scheduler import AIMDLimit, FixedLimit, LatencyBrake, Sample


def ok(
    limit: AIMDLimit,
    n: int,
    *,
    now: float = 0.0,
    latency: float = 1.0,
    tokens: int = 0,
    inflight: int | None = None,
) -> int:
    for _ in range(n):
        busy = limit.limit if inflight is None else inflight
        limit.update(Sample(now, latency, busy, False, tokens))
    return limit.limit


def drop(limit: AIMDLimit, *, now: float, sent: float) -> int:
    return limit.update(Sample(now, now - sent, limit.limit, True))


def test_slow_start_doubles_once_per_window() -> None:
    lim = AIMDLimit(initial=4, maximum=1000)
    assert ok(lim, 3) == 4
    assert ok(lim, 1) == 8
    assert ok(lim, 7) == 8
    assert ok(lim, 1) == 16


def test_additive_increase_after_first_drop() -> None:
    changes: list[tuple[int, int, str]] = []
    lim = AIMDLimit(initial=16, on_change=lambda *c: changes.append(c))
    assert drop(lim, now=1.0, sent=0.0) == 8
    assert ok(lim, 8) == 9
    assert ok(lim, 9) == 10
    assert changes == [(16, 8, "decrease"), (8, 9, "increase"), (9, 10, "increase")]


def test_burst_of_drops_from_one_overshoot_is_one_cut() -> None:
    lim = AIMDLimit(initial=32, slow_start=False)
    for i in range(20):  # all sent during [0, 1), failing during [2, 3)
        drop(lim, now=2.0 + i / 20, sent=i / 20)
    assert lim.limit == 16
    assert drop(lim, now=5.0, sent=2.5) == 8  # sent after the cut: a new signal


def test_no_growth_when_app_limited() -> None:
    lim = AIMDLimit(initial=8)
    assert ok(lim, 100, inflight=3) == 8
    assert ok(lim, 8, inflight=4) == 16


def test_clamps_to_bounds() -> None:
    changes: list[tuple[int, int, str]] = []
    lim = AIMDLimit(initial=8, minimum=3, maximum=10, on_change=lambda *c: changes.append(c))
    assert ok(lim, 8) == 10
    assert changes[-1] == (8, 10, "clamp")
    assert ok(lim, 50) == 10
    assert drop(lim, now=1.0, sent=0.0) == 5
    assert drop(lim, now=3.0, sent=2.0) == 3
    assert drop(lim, now=5.0, sent=4.0) == 3
    assert AIMDLimit(initial=1000).limit == 256


def test_latency_brake_stops_growth_when_normalised_latency_doubles() -> None:
    lim = AIMDLimit(initial=4, slow_start=False, brake=LatencyBrake(tolerance=1.5, min_samples=5))
    grown = ok(lim, 60, latency=1.0, tokens=100)
    assert grown > 4
    assert ok(lim, 300, latency=2.0, tokens=100) <= grown + 1


def test_latency_brake_ignores_longer_outputs() -> None:
    lim = AIMDLimit(initial=4, slow_start=False, brake=LatencyBrake(tolerance=1.5, min_samples=5))
    grown = ok(lim, 60, latency=1.0, tokens=100)
    assert ok(lim, 300, latency=2.0, tokens=200) > grown + 5


def test_latency_brake_with_step_decreases_gently() -> None:
    changes: list[tuple[int, int, str]] = []
    brake = LatencyBrake(tolerance=1.5, min_samples=5, step=1)
    lim = AIMDLimit(
        initial=10, slow_start=False, brake=brake, on_change=lambda *c: changes.append(c)
    )
    ok(lim, 30, latency=1.0, tokens=10)
    ok(lim, 100, latency=3.0, tokens=10)
    assert changes[-1][2] == "brake"
    assert changes[-1][1] == changes[-1][0] - 1


def test_latency_brake_with_backoff_walks_an_overgrown_limit_back() -> None:
    brake = LatencyBrake(tolerance=1.5, min_samples=5, backoff=0.9)
    lim = AIMDLimit(initial=4, brake=brake)
    grown = ok(lim, 100, latency=1.0, tokens=10)  # slow start, latency flat
    assert grown >= 32
    for i in range(400):  # a queue builds: latency triples, one sample every 0.1 s
        ok(lim, 1, now=10.0 + 0.1 * i, latency=3.0, tokens=10)
    assert lim.limit < 0.5 * grown
    before = lim.limit
    ok(lim, 200, now=100.0, latency=1.0, tokens=10)  # queue gone: additive increase
    assert before < lim.limit <= before + 10


def test_slow_start_grows_by_half_past_32() -> None:
    lim = AIMDLimit(initial=32)
    assert ok(lim, 32) == 48
    assert ok(lim, 48) == 72


def test_fixed_limit_never_changes() -> None:
    lim = FixedLimit(7)
    for i in range(50):
        lim.update(Sample(float(i), 0.5, 7, dropped=i % 2 == 0))
    assert lim.limit == 7


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        AIMDLimit(minimum=0)
    with pytest.raises(ValueError):
        AIMDLimit(backoff=1.5)
