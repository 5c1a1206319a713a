"""A rate-limited target is followed, not failed: Retry-After honoured (fractions too), the pace slowed after a 429."""

import json
import time

import anyio
import pytest

from migma_contract.config.options import CheckOptions
from migma_contract.generate.cases import Case
from migma_contract.reports._html import render_html
from migma_contract.reports._junit import render_junit
from migma_contract.reports._markdown import render_markdown
from migma_contract.run.result import RunResult
from migma_contract.run.runner import run_check
from migma_contract.wire.client import Pace, Target, TargetSettings, _retry_after

from .faulty_servers import FULL_KEY, RESTRICTED_KEY, Req, Resp, Variant
from .test_corpus import FIXTURES


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_after_a_429_the_gap_becomes_the_window_the_target_showed():
    clock = Clock()
    pace = Pace(None, clock=clock)
    for _ in range(10):  # a fixed window of 10 requests a minute: ten go through at once
        assert pace.slot() == 0
        pace.answered(200, None)
        clock.now += 0.01
    assert pace.answered(429, 59.9) is True
    assert pace.interval == pytest.approx(1.1 * (0.1 + 59.9) / 10)  # one request every 6.6 s (6 s, and a margin)
    assert pace.slot() == pytest.approx(59.9)  # the retry: nothing before its Retry-After has passed
    clock.now += 59.9
    pace.answered(200, None)
    assert [pace.slot() for _ in range(3)] == [pytest.approx(6.6), pytest.approx(13.2), pytest.approx(19.8)]


def test_a_retry_after_of_zero_says_nothing_of_the_window_and_the_pace_never_speeds_up():
    clock = Clock()
    pace = Pace(2.0, clock=clock)
    assert pace.answered(429, 0) is False and pace.interval == 0.5
    pace.slot()
    assert pace.answered(429, 0.1) is False and pace.interval == 0.5  # (0 + 0.1) / 1 is faster than --rate: kept
    clock.now += 1
    pace.slot()
    assert pace.answered(429, 3) is True and pace.interval == pytest.approx(3)  # 1.1 × (0.9 + 3) s, but one per Retry-After passes


def test_a_target_throttling_whatever_the_pace_cannot_slow_the_run_without_end():
    clock = Clock()
    pace = Pace(None, clock=clock)
    for _ in range(30):  # every third request refused, however slowly they come
        for _ in range(2):
            clock.now += pace.slot() or 0.001
            pace.answered(200, None)
        clock.now += pace.slot()
        pace.answered(429, 0.05)
    assert pace.interval == pytest.approx(0.05)  # never slower than one request per Retry-After


@pytest.mark.parametrize(("value", "seconds"), [("2", 2.0), ("0", 0.0), ("0.05", 0.05), (" 1.5 ", 1.5), ("-1", None),
                                                ("1e3", None), ("soon", None), ("0x10", None), ("", None)])
def test_retry_after_is_whole_or_fractional_seconds_or_a_date(value, seconds):
    assert _retry_after(value) == seconds


class FixedWindow:
    """A target allowing `limit` requests per `window` seconds; a 429 says how long is left, in fractions of a second."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.start, self.used, self.throttled, self.passed = 0.0, 0, 0, 0

    async def __call__(self, request: Req) -> Resp | None:
        now = time.monotonic()
        if now - self.start >= self.window:
            self.start, self.used = now, 0
        if self.used >= self.limit:
            self.throttled += 1
            left = self.window - (now - self.start)
            return Resp.of(429, {"success": False, "error": "rate limited"}, **{"retry-after": f"{left:.3f}"})
        self.used += 1
        self.passed += 1
        return None


@pytest.mark.e2e
def test_a_rate_limited_target_is_followed_at_its_pace_and_the_run_passes():
    limiter = FixedWindow(limit=2, window=0.1)
    warnings = []
    options = CheckOptions(api_key=FULL_KEY, restricted_api_key=RESTRICTED_KEY, plan="minimal").with_fixtures(FIXTURES)
    result = run_check(options, app=Variant("rate-limited", None, before=limiter).app(),
                       progress=lambda event, info: warnings.append(info["message"]) if event == "warning" else None)
    assert result.exit_code == 0, [f.message for f in result.findings]
    assert result.plan.kind == "minimal" and result.requests_sent == limiter.passed + limiter.throttled
    # unpaced, one request in three would meet a full window (13 sends: ~6 429s); paced, the first 429 teaches the rate
    assert limiter.throttled <= 2, limiter.throttled
    assert any(w.startswith("the target rate-limited the run (429 with Retry-After): one request every 0.0") for w in warnings)
    # and the reports keep it: it was only printed (a CI reader of the reports never saw it)
    assert result.warnings and all(w in warnings for w in result.warnings)
    assert RunResult.from_dict(json.loads(json.dumps(result.to_dict()))).warnings == result.warnings
    rendered = {"md": render_markdown(result), "html": render_html(result), "junit": render_junit(result)}
    for page in rendered.values():
        assert "the target rate-limited the run (429 with Retry-After)" in page


def test_a_429_is_not_a_send_of_its_idempotency_key_the_answers_a_server_acted_on_are():
    """The bound on a key is on what the server processed: a 429 was not, so it is retried like any other (issue 25)."""
    sent = []
    answers = iter([429, 200, 429, 200, 500])

    async def app(scope, receive, send):
        sent.append(dict(scope["headers"]).get(b"idempotency-key"))
        await send({"type": "http.response.start", "status": next(answers), "headers": [(b"retry-after", b"0")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def main():
        settings = TargetSettings("http://target", api_key="k", max_retries=5, max_sends_per_key=2)
        async with Target(settings, app) as target:
            keyed = Case("c", "r", "keyed", {}, frozenset(), headers=(("Idempotency-Key", "k1"),))
            first, second = await target.send(keyed), await target.send(keyed)
            uses_after_two = target.key_uses["k1"], target.uses_left("k1")
            plain = await target.send(Case("d", "r", "plain", {}, frozenset()))
            return first, second, uses_after_two, plain

    first, second, uses_after_two, plain = anyio.run(main)
    assert sent == [b"k1", b"k1", b"k1", b"k1", None]
    assert (first.status, len(first.throttled)) == (200, 1) and (second.status, len(second.throttled)) == (200, 1)
    assert uses_after_two == (2, False)  # two answers acted on: the run sends that key no more
    assert plain.status == 500  # a 5xx is no 429: not retried here


def test_a_429_without_retry_after_is_retried_after_a_bounded_backoff_of_our_own():
    sent = []
    answers = iter([429, 429, 200])

    async def app(scope, receive, send):
        sent.append(1)
        await send({"type": "http.response.start", "status": next(answers), "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def main():
        settings = TargetSettings("http://target", api_key="k", max_retries=3, max_retry_wait=0.001)
        async with Target(settings, app) as target:
            return await target.send(Case("c", "r", "plain", {}, frozenset()))

    exchange = anyio.run(main)
    assert exchange.status == 200 and len(exchange.throttled) == 2 and len(sent) == 3
    assert all("retry-after" not in attempt.headers for attempt in exchange.throttled)  # kept for rate-limit-retry-after
    assert min(Target.BACKOFF * 2**n for n in range(3)) >= 1.0  # the backoff a real run waits: 1 s, 2 s, 4 s… (capped)
