"""Right in any order (issue 15, item 5): every ordered pair of the actors that touch a request,
the first one paused inside Dwolla's balance check (between its read and its write) while the
second one runs, then everything settled. Whatever the order:

  1. a success the customer really made at the bank ends reauthorized: the exchange is
     reauthorized, exactly one "Exchange Reauthorized" is published (its request ends
     `reauthorized`, or `reauthorized_elsewhere` when a repair check found it first), and a
     claim Dwolla confirmed lands the customer on success and ends its request reauthorized;
  2. a request seen `verifying` (a claim waiting for Dwolla) is never seen `pending` afterwards
     unless Dwolla answered "not repaired" to a check started after that claim;
  3. every request's events are numbered 1..n, no gap, no duplicate.

The actors: the customer coming back from the bank (MX's redirect, or the Plaid page's report),
the scheduled sweep, a newer request superseding the customer's, and the platform reading the
request (a repair check when pending, the due re-check when verifying). The first actor's
balance check answers "works", "not repaired" or nothing (Dwolla unavailable); the second runs
with Dwolla up or down. Each schedule is one test id that reads like its story."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product

import pytest

from tests.support.apigw import LambdaContext, scheduled_event
from tests.support.constants import RETURN_URL
from tests.support.flow import bank_url, header, plaid_config
from tests.support.functions import serve
from tests.support.interleaving import while_at_dwolla

CLAIM, GET, SWEEP, SUPERSEDE = "claim", "get", "sweep", "supersede"
WORKS, NOT_REPAIRED, UNAVAILABLE = "works", "not_repaired", "unavailable"
REAUTHORIZED = "Exchange Reauthorized"


# ---- the world: one exchange, the customer's request, its journal -----------------------------
@dataclass
class World:
    api: object
    browser: object
    dwolla: object
    functions: object
    clock: object
    partner: str
    journal: list[tuple] = field(default_factory=list)  # steps, statuses seen, Dwolla's answers
    steps: list[str] = field(default_factory=list)  # the actors running now (nested)
    requests: dict[str, str] = field(default_factory=dict)  # label -> request id
    landings: list[tuple[str, str]] = field(default_factory=list)  # (what Dwolla said, landing)
    exchange: dict = field(default_factory=dict)
    back: str = ""  # MX: the bank's redirect back, not yet followed
    page: dict = field(default_factory=dict)  # Plaid: the Link page

    # ---- the record ----------------------------------------------------------------------------
    def step(self, name: str, action):
        self.journal.append(("step", name))
        self.steps.append(name)
        try:
            return action()
        finally:
            self.steps.pop()

    def observe(self) -> None:
        """Each request's status as stored (read straight from the table: no re-check)."""
        from reauth import runtime

        repo = runtime.service().ctx.repo
        for label, request_id in self.requests.items():
            request = repo.get_request(request_id)
            self.journal.append(("seen", label, request.status.value))

    def record_checks(self, monkeypatch) -> None:
        """Journal every check with Dwolla: where it started, the answer acted on, who asked."""
        from reauth import runtime
        from reauth.model import VerificationResult

        verifying = runtime.service().verifying
        check = verifying.check_with_dwolla
        words = {
            VerificationResult.CONFIRMED: WORKS,
            VerificationResult.NOT_REPAIRED: NOT_REPAIRED,
            VerificationResult.UNAVAILABLE: UNAVAILABLE,
        }

        def journaled(request):
            started, asker = len(self.journal), self.steps[-1] if self.steps else "?"
            result = check(request)
            self.journal.append(("check", started, words[result], asker))
            return result

        monkeypatch.setattr(verifying, "check_with_dwolla", journaled)

    # ---- the actors ----------------------------------------------------------------------------
    def claim(self) -> None:
        """The customer comes back from the bank: MX's redirect, or the Plaid page's report."""
        first = len(self.journal)
        if self.partner == "mx":
            answer = self.browser.get(self.back)
            landing = header(answer, "location") or f"{answer['statusCode']}"
        else:
            answer = self.browser.report_plaid(self.page, {"outcome": "success"})
            landing = answer["body"] if answer["statusCode"] == 200 else f"{answer['statusCode']}"
        heard = [e[2] for e in self.journal[first:] if e[0] == "check" and e[3] == CLAIM]
        self.landings.append((heard[-1] if heard else "nothing", landing))

    def get(self) -> None:
        """The platform reads the customer's request."""
        self.api.session(self.requests["request"])

    def sweep(self) -> None:
        self.functions.api.handler(scheduled_event(), LambdaContext())

    def supersede(self) -> None:
        """The platform asks again: a newer request for the exchange."""
        _, newer, _ = self.api.create(self.exchange["id"])
        self.requests["newer"] = newer["id"]

    def run(self, actor: str, dwolla_down: bool = False) -> None:
        if dwolla_down:
            self.dwolla.inject_fault(
                "/funding-sources/*/balance", method="GET", times=1000, status=503
            )
        try:
            self.step(actor, getattr(self, actor))
        finally:
            if dwolla_down:
                self.dwolla.clear_faults()
        self.observe()

    # ---- where a schedule starts ---------------------------------------------------------------
    def customer_at_the_bank(self, *, near_the_deadline: bool) -> None:
        """A request; the customer clicks its link and finishes at the bank (the sandbox's
        session completes) but has not come back yet."""
        self.exchange = self.dwolla.seed_exchange(self.partner)
        _, request, _ = self.api.create(self.exchange["id"], {"returnUrl": RETURN_URL})
        self.requests["request"] = request["id"]
        if near_the_deadline:
            self.clock.advance(days=7, minutes=-10)
        started = self.step("click", lambda: self.browser.click_start(request["startUrl"]))
        if self.partner == "mx":
            self.back = self.browser.visit_bank(bank_url(started))
        else:
            self.page = started
            self.dwolla.complete_exchange_session(plaid_config(started)["token"])
        self.observe()


SETUPS = {
    # pending, the customer at the bank, 16 minutes on: a platform read checks for a repair
    "at_the_bank": "pending, the customer finished at the bank, a repair check is due",
    # pending, the customer at the bank, the deadline just passed: the sweep asks Dwolla
    "past_the_deadline": "pending past its deadline, the customer finished at the bank",
    # verifying: the customer came back while Dwolla was down; the next check is due
    "verifying": "verifying (claimed while Dwolla was down), the next check is due",
}


def _set_up(world: World, setup: str) -> None:
    if setup == "at_the_bank":
        world.customer_at_the_bank(near_the_deadline=False)
        world.clock.advance(minutes=16)
    elif setup == "past_the_deadline":
        world.customer_at_the_bank(near_the_deadline=True)
        world.clock.advance(minutes=11)
    else:
        world.customer_at_the_bank(near_the_deadline=False)
        world.run(CLAIM, dwolla_down=True)
        world.clock.advance(minutes=2)
    world.observe()


def _settle(world: World, minutes: int) -> None:
    """Dwolla answers again; `minutes` later the schedule runs and the platform reads."""
    world.dwolla.clear_faults()
    world.clock.advance(minutes=minutes)
    world.run(SWEEP)
    for label in list(world.requests):
        world.step(GET, lambda label=label: world.api.session(world.requests[label]))
        world.observe()


# ---- the schedules -----------------------------------------------------------------------------
# Who can be paused at Dwolla in each starting point (makes a balance check there), and who
# can run meanwhile. A supersede never asks Dwolla; a platform read past the deadline neither.
FIRST = {
    "at_the_bank": (CLAIM, GET),
    "past_the_deadline": (CLAIM, SWEEP),
    "verifying": (CLAIM, GET, SWEEP),
}
MEANWHILE = {
    "at_the_bank": (CLAIM, GET, SUPERSEDE),
    "past_the_deadline": (CLAIM, SWEEP, SUPERSEDE),
    "verifying": (CLAIM, GET, SWEEP, SUPERSEDE),
}
NAMES = {
    CLAIM: "the customer comes back",
    GET: "the platform reads",
    SWEEP: "the sweep runs",
    SUPERSEDE: "a newer request supersedes",
}


@dataclass(frozen=True)
class Schedule:
    setup: str
    partner: str
    first: str
    answer: str  # what Dwolla answers the first actor
    meanwhile: str
    dwolla_down: bool  # while the second actor runs

    @property
    def id(self) -> str:
        second = f"{self.meanwhile}_{'dwolla_down' if self.dwolla_down else 'dwolla_up'}"
        if self.meanwhile == SUPERSEDE:
            second = SUPERSEDE
        return f"{self.partner}-{self.setup}-{self.first}_hears_{self.answer}-meanwhile_{second}"


def _schedules() -> list[Schedule]:
    found = []
    for setup, partner in product(SETUPS, ("mx", "plaid")):
        for first, answer, meanwhile in product(
            FIRST[setup], (WORKS, NOT_REPAIRED, UNAVAILABLE), MEANWHILE[setup]
        ):
            if partner == "plaid" and (setup == "verifying" or CLAIM not in (first, meanwhile)):
                continue  # the partner only matters to the customer's way back
            for down in (False, True) if meanwhile != SUPERSEDE else (False,):
                found.append(Schedule(setup, partner, first, answer, meanwhile, down))
    return found


SCHEDULES = _schedules()


@pytest.fixture
def world(api, browser, dwolla, functions, clock, monkeypatch, request) -> World:
    serve(clock=clock.now, dwolla_sleep=lambda seconds: None)  # Dwolla's retries, not slept
    made = World(api, browser, dwolla, functions, clock, request.param)
    made.record_checks(monkeypatch)
    return made


@pytest.mark.parametrize(
    ("world", "schedule"),
    [pytest.param(s.partner, s, id=s.id) for s in SCHEDULES],
    indirect=["world"],
)
def test_interleaving(world, schedule, monkeypatch, published):
    _set_up(world, schedule.setup)
    answer = {
        WORKS: True,
        NOT_REPAIRED: False,
        UNAVAILABLE: _dwolla_unavailable(),
    }[schedule.answer]

    pause = while_at_dwolla(
        monkeypatch, answer, lambda: world.run(schedule.meanwhile, schedule.dwolla_down)
    )
    world.run(schedule.first)
    if not pause.ran:  # the first actor decided without Dwolla: the second one runs after it
        world.run(schedule.meanwhile, schedule.dwolla_down)
    _settle(world, minutes=3)
    _assert_a_confirmed_success_was_kept(world)
    _settle(world, minutes=16)  # a repair check is due again: every request has asked Dwolla

    events = published()
    _assert_numbered(events)
    _assert_never_back_to_pending(world.journal)
    _assert_the_success_counts(world, events)
    assert pause.ran, f"{schedule.first} decided without asking Dwolla ({schedule.setup})"


def _dwolla_unavailable() -> Exception:
    from reauth.dwolla import DwollaApiError

    return DwollaApiError(503, "ServerError", "Dwolla is down")


# ---- the invariants ----------------------------------------------------------------------------
def _assert_numbered(events: list[dict]) -> None:
    """3. Each request's events are numbered 1..n: no gap, no duplicate."""
    by_request: dict[str, list[int]] = {}
    for event in events:
        detail = event["detail"]
        if "sessionId" in detail:
            by_request.setdefault(detail["sessionId"], []).append(detail.get("sequence"))
    for request_id, sequences in by_request.items():
        assert sorted(sequences) == list(range(1, len(sequences) + 1)), (request_id, sequences)
    ids = [e["detail"]["eventId"] for e in events]
    assert len(ids) == len(set(ids))


def _assert_never_back_to_pending(journal: list[tuple]) -> None:
    """2. Seen verifying, then pending: only after Dwolla said "not repaired" to a check that
    started after the claim (the last step begun before verifying was first seen)."""
    claimed_at: dict[str, int | None] = {}
    last_step = 0
    for position, entry in enumerate(journal):
        if entry[0] == "step":
            last_step = position
            continue
        if entry[0] != "seen":
            continue
        _, label, status = entry
        if status == "verifying":
            if claimed_at.get(label) is None:
                claimed_at[label] = last_step
        elif status == "pending" and claimed_at.get(label) is not None:
            since = claimed_at[label]
            told = [
                e
                for e in journal[:position]
                if e[0] == "check" and e[1] > since and e[2] == NOT_REPAIRED
            ]
            assert told, f"{label}: verifying, then pending with no 'not repaired' after the claim"
            claimed_at[label] = None
        else:
            claimed_at[label] = None


def _assert_a_confirmed_success_was_kept(world: World) -> None:
    """1. Once Dwolla answered "works" to anyone, a few minutes later the exchange is
    reauthorized: no answer is dropped because the request moved meanwhile."""
    heard = [entry for entry in world.journal if entry[0] == "check" and entry[2] == WORKS]
    if heard:
        record = world.api.status(world.exchange["id"])[1]
        assert record["status"] == "reauthorized", (heard, _statuses(world))


def _statuses(world: World) -> dict[str, str]:
    from reauth import runtime

    repo = runtime.service().ctx.repo
    return {
        label: repo.get_request(request_id).status.value
        for label, request_id in world.requests.items()
    }


def _assert_the_success_counts(world: World, events: list[dict]) -> None:
    """1. The customer finished at the bank: it ends reauthorized, announced once."""
    statuses = _statuses(world)
    record = world.api.status(world.exchange["id"])[1]
    assert (record["status"], record["pendingSessionId"]) == ("reauthorized", None), statuses
    reauthorized = [e for e in events if e["detail-type"] == REAUTHORIZED]
    assert len(reauthorized) == 1, [e["detail"] for e in reauthorized]
    detail = reauthorized[0]["detail"]
    labels = {request_id: label for label, request_id in world.requests.items()}
    expected = "reauthorized" if detail["via"] == "this-service" else "reauthorized_elsewhere"
    assert statuses[labels[detail["sessionId"]]] == expected, (detail, statuses)
    if detail.get("endedSessionId"):
        assert statuses[labels[detail["endedSessionId"]]] == "reauthorized_elsewhere", statuses
    assert not {"pending", "verifying"} & set(statuses.values()), statuses
    # A claim Dwolla confirmed: the customer lands on success, the request ends reauthorized.
    confirmed = [landing for heard, landing in world.landings if heard == WORKS]
    for landing in confirmed:
        assert "status=reauthorized" in landing, world.landings
    if confirmed:
        assert statuses["request"] in ("reauthorized", "reauthorized_elsewhere"), statuses


# ---- a story beyond one pause ------------------------------------------------------------------
def test_a_late_claim_after_the_newer_request_found_the_repair_announces_it_once(
    api, dwolla, browser, clock, published
):
    exchange = dwolla.seed_exchange("mx")
    _, old, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    back = browser.visit_bank(bank_url(browser.click_start(old["startUrl"])))  # she finished
    _, newer, _ = api.create(exchange["id"])  # the platform asks again
    clock.advance(minutes=16)
    assert api.session(newer["id"])[1]["status"] == "reauthorized_elsewhere"  # a repair check

    landed = browser.get(back)  # and then she comes back

    # The exchange works and was announced: she lands on "already connected", nothing more.
    assert "status=reauthorized_elsewhere" in header(landed, "location")
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"
    announced = [e for e in published() if e["detail-type"] == REAUTHORIZED]
    assert len(announced) == 1, [e["detail"] for e in announced]
