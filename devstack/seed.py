"""`make seed` (`python -m devstack seed`): a month of true data in the RUNNING local stack, so the
CX dashboard has something to show. LOCAL ONLY, never against AWS.

Nothing is written to a table and nothing is canned: every number the dashboard then shows was made
by koe from what fictional customers did through the same doors real ones use.

- Operations systems post "procedure completed" events to `POST /v1/events` with the stack's API
  key: four procedures (claim payment, new policy on NPS; address change on CSAT, call centre on CES
  with the local definitions of devstack/local_surveys.py, or whatever the stack's
  KOE_SURVEY_DEFINITIONS says), at the three branches of devstack/local_routing.py and their agents
  (and some counter staff who are nobody's agent: those cases go to the branch), during the
  customers' business hours in Tokyo, Shanghai and New York.
- Customers answer as customers do, through the carrier (devstack/carrier.py): US customers text
  their score and why (`POST /reply`: two-way SMS); Japanese customers open the link of their link
  SMS and send the web survey's form; email customers (most: `customer-NNNN@example.jp` /
  `example.com`; Chinese customers with an address are asked by email first) click a score button
  in the email (a GET that only shows the page) and send the form. Some answer only the reminder,
  many never answer, a few text STOP or unsubscribe in one click, a few addresses hard-bounce (the
  carrier makes SES report it) and a few numbers fail (the carrier's fault numbers, 555-0190..0193).
  Comments in Japanese, Chinese and English, positive, neutral and negative, some with the words
  that open a case whatever the score (解約, 投诉, "cancel my policy"). One branch (shanghai-01)
  does noticeably worse.
- The CX team works cases through `/v1/cases` with local bearer tokens (devstack/tokens.py): the
  owning agent (or the branch manager, or central) claims, records a contact attempt and resolves
  with codes from `GET /v1/case-codes`; some cases are only claimed, some left open (and go overdue
  as the ladder climbs).
- The month: the stack's clock is set back once (`POST /clock/rewind`, devstack/time_machine.py),
  then walked forward in steps of a few hours (`POST /clock/advance`, which fires the schedule:
  deferred surveys go out in the customer's morning, reminders a day later, case ladders climb)
  until it is back at the wall clock. Answers count on the day the stack's clock says.

The US numbers are the fictional 555-0100..0199: only a hundred, so US customers share them across
the month, and koe's fatigue rules (one open conversation per number, a cooldown per procedure, a
cap per 30 days) suppress some of their surveys: that is part of the truth shown. Japanese numbers
are +81 90-0005-xxxx, Chinese +86 138-0013-xxxx (as in the end-to-end tests), all fictional.

Between steps the seed waits for the pipeline by polling what the stack shows (`GET /v1/outcomes`
for what dispatch decided, the carrier's `/messages`, `/emails?since=` and `/scheduled`, `/v1/scores`
at the end), with timeouts that raise `NotArrived` naming what did not arrive. Deterministic for a
given `rng_seed` apart from timing (the wall clock at the start, and the order the pipeline answers
in).

Seed a fresh stack (`make run IN_MEMORY=1`, or a new DB_PATH): data already in the stack newer than
the rewound clock stays as it is, so customers surveyed before look surveyed "in the future".
"""

from __future__ import annotations

import functools
import html
import json
import math
import random
import re
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import requests

from chalicelib.domain import questions, survey_token
from chalicelib.domain.identity import parse_keyring
from chalicelib.domain.questions import Scale
from devstack import local_routing, tokens
from devstack.carrier import API_FAULTS, CALLBACK_FAULTS
from devstack.time_machine import iso, parse_time

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = REPO_ROOT / "templates"

DEFAULT_DAYS = 30
DEFAULT_PER_DAY = 40
DEFAULT_RNG_SEED = 7
STEP_HOURS = 4                  # the clock moves this far between two looks at the stack
POST_BATCH = 100                # POST /v1/events takes at most 100 events
ACCOUNT_TIMEOUT_S = 60.0        # dispatch deciding on what was posted
SETTLE_TIMEOUT_S = 120.0        # the responses stream counting every answer, at the end
RESPONSE_WINDOW = timedelta(days=7)     # KOE_RESPONSE_WINDOW_DAYS' default: how long a number stays busy
WORKERS = 4                     # customers acting at the same time

# The hundred fictional US numbers, less the carrier's fault numbers (used on purpose, below) and
# the demo number `python -m devstack` prints (so its curl keeps working after a seed).
FAULT_NUMBERS = tuple(sorted(set(API_FAULTS) | set(CALLBACK_FAULTS)))
US_NUMBERS = tuple(n for n in (f"+155501001{i:02d}" for i in range(100))
                   if n not in FAULT_NUMBERS and n != "+15550100123")
FAILING_NUMBERS = ("+15550100190", "+15550100191", "+15550100193")   # not 0192: a throttle, not a failure
CUSTOMERS = 10_000              # customer-0000 .. customer-9999
REGULARS = 300                  # customers 0..299 come back more often (cooldowns, repeat detractors)


class SeedError(RuntimeError):
    """The seed cannot go on; says what and where."""


class StackNotReady(SeedError):
    """No running stack at the addresses given, or one that is not the local stack."""


class NotArrived(SeedError):
    """Something the seed waited for did not arrive in time: the message names it."""


# --- the fictional company ------------------------------------------------------------------------

@dataclass(frozen=True)
class Branch:
    name: str
    timezone: str
    agent: str
    weight: float
    mood: tuple[float, float]           # Beta(a, b) of how satisfied its customers are, 0..1


def _branches(weights: Mapping[str, tuple[float, tuple[float, float]]]) -> tuple[Branch, ...]:
    """The local stack's branches with their time zone and agent (devstack/local_routing.py, so every
    seeded case has an owner the routing knows), each with its share of events and its mood."""
    table = local_routing.routing(lambda channel: "")
    agents = {spec["branch"]: agent for agent, spec in table["agents"].items()}
    return tuple(Branch(name, table["branches"][name]["timezone"], agents[name], weight, mood)
                 for name, (weight, mood) in weights.items())


BRANCHES = _branches({
    "tokyo-chuo": (0.40, (6.5, 1.7)),
    "shanghai-01": (0.25, (3.0, 1.9)),      # noticeably worse
    "new-york-01": (0.35, (7.5, 1.5)),
})
PROCEDURES = (("claim_payment", 0.30), ("new_policy", 0.20), ("address_change", 0.25), ("call_center", 0.25))
# How a branch's customers can be reached: (kind, weight). Kinds: ja_phone (a Japanese mobile: a link
# SMS), ja_email, ja_both; zh_email, zh_both (email first in China), zh_phone (a link SMS); us_sms (a
# US number: two-way SMS), us_email, us_both; en_email (an English speaker abroad, by email).
REACH = {
    "tokyo-chuo": (("ja_phone", 0.42), ("ja_email", 0.42), ("ja_both", 0.08), ("en_email", 0.08)),
    "shanghai-01": (("zh_email", 0.45), ("zh_both", 0.30), ("zh_phone", 0.25)),
    "new-york-01": (("us_sms", 0.42), ("us_email", 0.53), ("us_both", 0.05)),
}
LOCALES = {"ja": "ja-JP", "zh": "zh-CN", "en": "en-US", "us": "en-US"}
CHANNELS_OF_CONTEXT = (("counter", 0.45), ("phone", 0.35), ("web", 0.20))

# What customers do with a survey once it reaches them.
BEHAVIOURS = (("answer", 0.55), ("late", 0.12), ("ignore", 0.26), ("opt_out", 0.03), ("bounce", 0.02),
              ("fail", 0.02))

COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "ja": {
        "positive": ("対応が早くて助かりました", "担当の方がとても親切でした", "説明がわかりやすかったです",
                     "手続きが簡単でした", "丁寧に対応していただきありがとうございました"),
        "neutral": ("特に問題ありませんでした", "普通でした", "待ち時間が少し長かったです",
                    "書類が少し多いと感じました"),
        "negative": ("何度も電話しないといけませんでした", "支払いが遅れて困りました",
                     "窓口の担当者の態度が悪かったです", "説明がわかりにくく、不安でした"),
        "keyword": ("対応が遅すぎます。解約を考えています", "苦情を申し上げたいです。折り返し電話ください"),
    },
    "zh": {
        "positive": ("理赔很快，谢谢", "客服态度很好", "流程简单方便", "工作人员很专业"),
        "neutral": ("还可以", "一般吧，等待时间有点长", "手续有点多"),
        "negative": ("等了很久也没有人联系我", "理赔太慢了", "服务态度很差", "说明不清楚"),
        "keyword": ("我要投诉，理赔拖了一个月", "服务太差了，我想退保"),
    },
    "en": {
        "positive": ("Quick and easy, thank you", "The agent was very helpful", "The payout came fast",
                     "Clear explanation, great service"),
        "neutral": ("It was fine", "OK but the wait was a bit long", "Too much paperwork"),
        "negative": ("Nobody called me back", "The payout took weeks", "The agent was rude",
                     "I had to explain everything three times"),
        "keyword": ("Terrible service. I want to cancel my policy.", "I will file a complaint, please call me"),
    },
}
NPS_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


Task = Callable[[], Any]


def run_in_order(steps: Iterable[Task]) -> None:
    for step in steps:
        step()


def weighted(rng: random.Random, choices: Iterable[tuple[str, float]]) -> str:
    names, weights = zip(*choices, strict=True)
    return str(rng.choices(names, weights=weights)[0])


@dataclass(frozen=True)
class Customer:
    number: int
    branch: Branch
    kind: str
    language: str                       # ja, zh, en

    @property
    def locale(self) -> str:
        return LOCALES[self.kind.split("_")[0]]

    @property
    def email(self) -> str | None:
        if not self.kind.endswith(("_email", "_both")):
            return None
        domain = "example.jp" if self.language in ("ja", "zh") else "example.com"
        return f"customer-{self.number:04d}@{domain}"

    def phone(self, us_number: str | None) -> str | None:
        if self.kind in ("ja_phone", "ja_both"):
            return f"+81900005{self.number:04d}"
        if self.kind in ("zh_phone", "zh_both"):
            return f"+861380013{self.number:04d}"
        if self.kind in ("us_sms", "us_both"):
            return us_number
        return None


def customer(rng_seed: int, number: int) -> Customer:
    """A customer is the same whenever they come back: drawn from their number alone."""
    rng = random.Random(f"{rng_seed}/customer/{number}")
    branch = BRANCHES[[b.name for b in BRANCHES].index(weighted(rng, ((b.name, b.weight) for b in BRANCHES)))]
    kind = weighted(rng, REACH[branch.name])
    prefix = kind.split("_")[0]
    return Customer(number, branch, kind, {"us": "en"}.get(prefix, prefix))


@dataclass
class Planned:
    """One completed procedure of the month, and what its customer will do with the survey."""

    index: int
    event_id: str
    completed_at: datetime
    slot: int                           # posted at the start + slot * step
    procedure: str
    customer: Customer
    agent: str | None
    context: dict[str, str]
    behaviour: str
    mood: float
    comments: bool
    keyword: bool
    style: float                        # how the score is written (digits, words, with the comment)
    pick: float                         # which comment
    phone: str | None = None            # a US number is picked when posted

    @property
    def email(self) -> str | None:
        return self.customer.email

    def event(self) -> dict[str, Any]:
        who: dict[str, str] = {"id": self.customer_id, "locale": self.customer.locale,
                               "timezone": self.customer.branch.timezone}
        if self.phone:
            who["phone"] = self.phone
        if self.email:
            who["email"] = self.email
        local = self.completed_at.astimezone(ZoneInfo(self.customer.branch.timezone))
        return {"event_id": self.event_id, "procedure": self.procedure,
                "completed_at": local.isoformat(timespec="seconds"), "customer": who, "context": self.context}

    @property
    def customer_id(self) -> str:
        if self.customer.kind == "us_sms" and self.phone:
            return f"C-US-{self.phone[-4:]}"            # a US number's customer is that number's
        return f"C-{self.customer.number:05d}"

    def answer(self, scale: Scale) -> tuple[int, str | None]:
        """The score on the survey's scale and the comment (None: no comment)."""
        low, high = questions.BOUNDS[scale]
        score = low + round(self.mood * (high - low))
        if not self.comments:
            return score, None
        feeling = ("keyword" if self.keyword else sentiment(scale, score))
        bank = COMMENTS[self.customer.language][feeling]
        return score, bank[int(self.pick * len(bank))]


def sentiment(scale: Scale, score: int) -> str:
    positive, neutral = {Scale.NPS: (9, 7), Scale.CSAT: (4, 3), Scale.CES: (6, 4)}[scale]
    return "positive" if score >= positive else "neutral" if score >= neutral else "negative"


def plan_month(rng_seed: int, days: int, per_day: int, start: datetime, step: timedelta,
               run: str) -> list[Planned]:
    """`per_day` procedures completed on each of `days` days from `start`, in their customers'
    business hours (09:00-19:00 local). Each event's draws are its own (seeded by its index)."""
    plans = []
    for day in range(days):
        for k in range(per_day):
            index = day * per_day + k
            rng = random.Random(f"{rng_seed}/event/{index}")
            number = rng.randrange(REGULARS) if rng.random() < 0.15 else rng.randrange(REGULARS, CUSTOMERS)
            who = customer(rng_seed, number)
            completed = business_moment(rng, start + timedelta(days=day), ZoneInfo(who.branch.timezone))
            procedure = weighted(rng, PROCEDURES)
            agent = who.branch.agent if rng.random() < 0.85 else None
            context = {"branch": who.branch.name, "channel": weighted(rng, CHANNELS_OF_CONTEXT),
                       "policy_id": f"P-{rng.randrange(10000, 100000)}"}
            if agent:
                context["agent_id"] = agent
            if procedure == "claim_payment":
                context["claim_open"] = "true" if rng.random() < 0.04 else "false"
            a, b = who.branch.mood
            mood = rng.betavariate(a, b) * (0.92 if procedure == "claim_payment" else 1.0)
            behaviour = weighted(rng, BEHAVIOURS)
            comments = rng.random() < 0.72
            keyword = comments and rng.random() < (0.22 if mood < 0.6 else 0.04 if mood < 0.85 else 0.0)
            slot = max(1, math.ceil((completed - start) / step))
            plans.append(Planned(index, f"seed-{run}-{index:05d}", completed, slot, procedure, who, agent, context,
                                 behaviour, mood, comments, keyword, rng.random(), rng.random(),
                                 phone=who.phone(None)))        # a US number is picked when posted
    return plans


def business_moment(rng: random.Random, day_start: datetime, zone: ZoneInfo) -> datetime:
    """A moment of the 24 hours from `day_start` that is 09:00-19:00 where the customer is."""
    while True:
        moment = day_start + timedelta(seconds=rng.randrange(24 * 3600))
        if 9 <= moment.astimezone(zone).hour < 19:
            return moment.replace(microsecond=0)


# --- what koe's texts say (read from templates/, so a reworded template still matches) -------------

class Texts:
    """Recognises koe's SMS by their templates: invitation, reminder, closing, why, thanks, reprompt."""

    KINDS = ("reminder", "invitation", "closing", "why", "thanks", "reprompt")   # the more specific first

    def __init__(self, templates: Path = TEMPLATES) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for folder in ("sms", "sms_link"):
            for path in sorted((templates / folder).glob("*.toml")):
                data = tomllib.loads(path.read_text(encoding="utf-8"))
                for table in (data, *(data.get(scale.value, {}) for scale in (Scale.CSAT, Scale.CES))):
                    for kind in self.KINDS:
                        if isinstance(table.get(kind), str):
                            self._patterns.append((kind, _pattern(table[kind])))

    def kind(self, body: str) -> str | None:
        return next((kind for kind, pattern in self._patterns if pattern.fullmatch(body.strip())), None)


def _pattern(template: str) -> re.Pattern[str]:
    escaped = re.escape(template.strip())
    return re.compile(re.sub(r"\\\{[a-z_]+\\\}", ".*?", escaped), re.DOTALL)


SURVEY_LINK = re.compile(r"https?://[^\s\"'<>]+/s/([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?)(?:\?score=(\d+))?")


def survey_links(text: str, link_keys: survey_token.LinkKeys) -> list[tuple[str, str, int | None]]:
    """(link without query, survey id, score it pre-selects) of each web-survey link in a text or HTML.
    A link names its survey opaquely: the seed reads it with the stack's own link key, as koe does."""
    found = []
    for match in SURVEY_LINK.finditer(html.unescape(text)):
        try:
            survey_id = link_keys.verify(match.group(1))
        except survey_token.TamperedToken:
            continue
        link = match.group(0).split("?")[0]
        found.append((link, survey_id, int(match.group(2)) if match.group(2) else None))
    return found


# --- the running stack, from outside ---------------------------------------------------------------

class Stack:
    """The running local stack as the seed uses it: its HTTP API, carrier and clock."""

    def __init__(self, info: Mapping[str, Any], timeout_s: float = 30.0) -> None:
        try:
            self.api, self.carrier = str(info["api_url"]), str(info["carrier_url"])
            self.key = str(info["api_key"])
            self.secret = str(info["env"]["KOE_LOCAL_TOKEN_SECRET"])
            self.link_keys = survey_token.LinkKeys.of(parse_keyring(json.loads(info["env"]["KOE_LOCAL_CONTACT_KEYS"])))
            self.definitions = questions.parse(json.loads(info["env"].get("KOE_SURVEY_DEFINITIONS") or "{}"))
            self.templates = Path(info["env"].get("KOE_TEMPLATES_DIR") or TEMPLATES)
        except (KeyError, TypeError, ValueError) as exc:
            raise StackNotReady(f"not the local stack's ready file ({exc}): start it with `make run`") from exc
        self._local = threading.local()         # a session per thread: the seed's customers act at once
        self.timeout_s = timeout_s

    @property
    def http(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def call(self, method: str, url: str, expect: Iterable[int] = (200,), **kwargs: Any) -> requests.Response:
        try:
            answer = self.http.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise StackNotReady(f"{method} {url} failed ({type(exc).__name__}): is the stack running "
                                "(`make run`)?") from exc
        if answer.status_code not in tuple(expect):
            raise SeedError(f"{method} {url} answered {answer.status_code}: {answer.text[:300]}")
        return answer

    # the clock (devstack/time_machine.py through the carrier)
    def clock(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"{self.carrier}/clock").json()
        return answer

    def rewind(self, to: datetime) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", f"{self.carrier}/clock/rewind", json={"to": iso(to)}).json()
        return answer

    def advance_to(self, to: datetime) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", f"{self.carrier}/clock/advance", json={"to": iso(to)}).json()
        return answer

    # operations systems
    def post_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = self.call("POST", f"{self.api}/v1/events", expect=(202,), json={"events": events},
                           headers={"x-api-key": self.key})
        results: list[dict[str, Any]] = answer.json()["results"]
        return results

    def outcomes(self, from_day: str, to_day: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"{self.api}/v1/outcomes", params={"from": from_day, "to": to_day},
                                           headers={"x-api-key": self.key}).json()
        return answer

    # the carrier: phones and the mailbox
    def texts(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.call("GET", f"{self.carrier}/messages").json()
        return answer

    def emails(self, since: int) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.call("GET", f"{self.carrier}/emails", params={"since": since}).json()
        return answer

    def scheduled(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.call("GET", f"{self.carrier}/scheduled").json()
        return answer

    def text(self, phone: str, body: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", f"{self.carrier}/reply", json={"from": phone, "body": body}).json()
        return answer

    def unsubscribe(self, message_id: str) -> None:
        self.call("POST", f"{self.carrier}/emails/unsubscribe", json={"message_id": message_id})

    def bounce(self, to: str, message_id: str) -> None:
        self.call("POST", f"{self.carrier}/emails/feedback", json={"to": to, "kind": "bounce",
                                                                    "message_id": message_id})

    # the customer's browser
    def open_page(self, url: str) -> None:
        self.call("GET", url, expect=(200, 410))

    def send_form(self, url: str, score: int, comment: str | None) -> bool:
        answer = self.call("POST", url, expect=(200, 400, 410), data={"score": str(score), "comment": comment or ""})
        return answer.status_code == 200

    # the CX team
    def token(self, now: datetime, role: str, branch: str | None = None, agent: str | None = None) -> str:
        return tokens.mint(self.secret, role, branch=branch, agent=agent, now=now)

    def cx(self, method: str, path: str, bearer: str, expect: Iterable[int] = (200,), **kwargs: Any) -> Any:
        return self.call(method, f"{self.api}{path}", expect=expect,
                         headers={"authorization": f"Bearer {bearer}"}, **kwargs).json()


# --- progress and the summary ----------------------------------------------------------------------

@dataclass
class Summary:
    days: int = 0
    started_at: str = ""                # the stack's clock after the rewind
    ended_at: str = ""                  # the stack's clock at the end
    wall_clock: str = ""                # the wall clock at the end
    events_posted: int = 0
    events_accepted: int = 0
    surveys_sent: Counter[str] = field(default_factory=Counter)          # by channel
    deferred: int = 0                   # /v1/outcomes: first scheduled for the send window
    reminders: int = 0
    answered: Counter[str] = field(default_factory=Counter)             # by scale
    comments: int = 0
    answered_days: int = 0
    non_responders: int = 0
    opt_outs: int = 0
    bounces: int = 0
    failing_numbers: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)            # /v1/outcomes, by reason
    failed: dict[str, int] = field(default_factory=dict)
    cases: Counter[str] = field(default_factory=Counter)                # by status, at the end
    cases_overdue: int = 0
    cases_worked: Counter[str] = field(default_factory=Counter)         # claimed, contacted, resolved
    elapsed_s: float = 0.0

    @property
    def cases_opened(self) -> int:
        return sum(self.cases.values())

    def lines(self) -> list[str]:
        def listed(counts: Mapping[str, int]) -> str:
            return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"

        minutes, seconds = divmod(round(self.elapsed_s), 60)
        return [
            f"seeded {self.days} days on the stack's clock, {self.started_at} -> {self.ended_at} "
            f"(wall clock {self.wall_clock}), in {minutes} min {seconds:02d} s",
            f"events posted      {self.events_posted} ({self.events_accepted} accepted)",
            f"surveys sent       {sum(self.surveys_sent.values())} ({listed(self.surveys_sent)}); "
            f"{self.deferred} first waited for the send window; {self.reminders} reminders",
            f"suppressed         {sum(self.suppressed.values())} ({listed(self.suppressed)})",
            f"failed             {sum(self.failed.values())} ({listed(self.failed)})",
            f"answered           {sum(self.answered.values())} ({listed(self.answered)}) on {self.answered_days} days; "
            f"{self.comments} with a comment",
            f"did not answer     {self.non_responders}; opted out {self.opt_outs} (STOP, one-click unsubscribe); "
            f"hard bounces {self.bounces}; surveys to failing numbers {self.failing_numbers}",
            f"cases opened       {self.cases_opened} ({listed(self.cases)}); overdue {self.cases_overdue}; "
            f"worked through /v1/cases: {listed(self.cases_worked)}",
        ]


@dataclass(frozen=True)
class Progress:
    step: int
    steps: int
    day: int
    days: int
    summary: Summary


class ProgressBar:
    """A progress bar on a terminal (one line, redrawn); elsewhere a line per seeded day."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self._last_day = -1

    def __call__(self, p: Progress) -> None:
        done = p.step / p.steps if p.steps else 1.0
        s = p.summary
        note = (f"day {p.day}/{p.days}  events {s.events_posted}  sent {sum(s.surveys_sent.values())}  "
                f"answered {sum(s.answered.values())}  cases worked {s.cases_worked['resolved']}")
        if self.tty:
            filled = round(done * self.width)
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done:4.0%}  {note}\033[K")
            if p.step == p.steps:
                self.stream.write("\n")
        elif p.day != self._last_day or p.step == p.steps:
            self._last_day = p.day
            self.stream.write(f"seed {done:4.0%}  {note}\n")
        self.stream.flush()


# --- the seed --------------------------------------------------------------------------------------

@dataclass
class Line:
    """One US number's conversation, as the seed sees it: the event last posted to it, and until
    when koe holds its one open conversation (no other survey to that number meanwhile)."""

    event: Planned | None = None
    busy_until: datetime | None = None
    waiting: bool = False               # posted; not yet seen sent, scheduled or suppressed

    def idle(self, now: datetime) -> bool:
        return not self.waiting and (self.busy_until is None or self.busy_until <= now)


@dataclass(frozen=True)
class Posted:
    """Events posted at one step: how many were accepted, and what dispatch had decided before."""

    day: date
    before: int
    accepted: int
    at: datetime


# The fate of the 1st, 2nd, ... case a seed sees open, repeating: 12 of 20 resolved, 3 claimed and
# called but not resolved, 5 left open (the dashboard's overdue list); the first one is resolved.
CASE_KINDS = ("resolve", "resolve", "contact", "leave", "resolve", "resolve", "leave", "resolve", "contact",
              "resolve", "resolve", "leave", "resolve", "resolve", "contact", "leave", "resolve", "resolve",
              "leave", "resolve")


# What the person who calls writes down, in the customer's language (the page shows it on the timeline).
CALL_NOTES = {
    "en": {"reached": "Spoke with the customer; explained the next steps and apologised.",
           "no_answer": "No answer; will try again in the afternoon.",
           "left_message": "Left a voicemail with our direct number."},
    "ja": {"reached": "お客さまと話し、今後の流れをご説明してお詫びしました。",
           "no_answer": "応答なし。午後に再度おかけします。", "left_message": "留守番電話に折り返し番号を残しました。"},
    "zh": {"reached": "已与客户通话，说明了后续流程并致歉。", "no_answer": "无人接听，下午再拨。",
           "left_message": "已在语音信箱留下回电号码。"},
}


@dataclass
class CasePlan:
    case_id: str
    kind: str                           # resolve, contact (claimed and called, not resolved), leave
    claim_at: datetime
    resolve_at: datetime
    outcome: str
    claimed: bool = False
    resolved: bool = False


class Seeder:
    def __init__(self, stack: Stack, days: int, per_day: int, rng_seed: int,
                 progress: Callable[[Progress], None] | None, step_hours: float = STEP_HOURS) -> None:
        if days < 1 or per_day < 1:
            raise ValueError("days and events per day are at least 1")
        self.stack, self.days, self.per_day, self.rng_seed = stack, days, per_day, rng_seed
        self.progress = progress
        self.step = timedelta(hours=step_hours)
        self.texts = Texts(stack.templates)
        self.summary = Summary(days=days)
        self.plans: dict[str, Planned] = {}
        self.lines = {number: Line() for number in US_NUMBERS}
        self.seen_texts: set[str] = set()
        self.email_cursor = 0
        self.invited: Counter[str] = Counter()          # survey id -> survey messages seen
        self.answered: set[str] = set()
        self.answer_days: set[str] = set()
        self.case_plans: dict[str, CasePlan] = {}
        self.codes: dict[str, list[str]] = {}
        self.now = datetime.now(UTC)
        self.baseline: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="seed-customer")

    # -- the month

    def run(self) -> Summary:
        try:
            return self._run()
        except BaseException:
            self._back_to_now()                 # stopped half way (an error, Ctrl-C): not left in the past
            raise
        finally:
            self.pool.shutdown(wait=True)

    def _back_to_now(self) -> None:
        try:
            self.stack.advance_to(parse_time(self.stack.clock()["wall_clock"]))
        except SeedError as exc:                # the stack is gone (its clock went with it), or busy: say so
            print(f"seed: could not move the stack's clock back to now ({exc}); a restart does",
                  file=sys.stderr, flush=True)

    def _run(self) -> Summary:
        started = time.monotonic()
        clock = self.stack.clock()
        wall = parse_time(clock["wall_clock"])
        start = (wall - timedelta(days=self.days)).replace(second=0, microsecond=0)
        self.baseline = self._outcomes(start, wall)         # what earlier data already counts there
        self.now = parse_time(self.stack.rewind(start)["now"])
        self.summary.started_at = iso(self.now)
        run = wall.strftime("%Y%m%dT%H%M%S")
        month = plan_month(self.rng_seed, self.days, self.per_day, start, self.step, run)
        self.plans = {p.event_id: p for p in month}
        by_slot: dict[int, list[Planned]] = {}
        for plan in month:
            by_slot.setdefault(plan.slot, []).append(plan)
        steps = math.ceil(timedelta(days=self.days) / self.step)
        self.codes = self._case_codes()
        for step in range(1, steps + 1):
            self._move(start + step * self.step)
            posted = self._post(by_slot.get(step, []))
            self._work_cases()                  # while dispatch decides on what was posted
            self._await_decisions(posted)
            self._look()
            self._report(step, steps, start)
        # back at the wall clock: what the last move released, then the stream's last answers
        self._move(parse_time(self.stack.clock()["wall_clock"]))
        self._look()
        self._settle(start)
        self._tally(start)
        self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _move(self, to: datetime) -> None:
        moved = self.stack.advance_to(to)
        self.now = parse_time(moved["now"])

    def _report(self, step: int, steps: int, start: datetime) -> None:
        if self.progress is not None:
            day = min(self.days, (self.now - start) // timedelta(days=1) + 1)
            self.progress(Progress(step, steps, day, self.days, self.summary))

    # -- operations systems post what was completed

    def _post(self, due: list[Planned]) -> Posted | None:
        events = []
        for plan in due:
            if plan.customer.kind in ("us_sms", "us_both") and not self._pick_number(plan):
                continue
            events.append(plan.event())
        if not events:
            return None
        day = self.now.date()
        before = decided(self.stack.outcomes(day.isoformat(), (day + timedelta(days=1)).isoformat()))
        accepted = 0
        for first in range(0, len(events), POST_BATCH):
            results = self.stack.post_events(events[first:first + POST_BATCH])
            accepted += sum(1 for r in results if r.get("status") == "accepted")
        self.summary.events_posted += len(events)
        self.summary.events_accepted += accepted
        return Posted(day, before, accepted, self.now)

    def _await_decisions(self, posted: Posted | None) -> None:
        """Until dispatch has decided on every event posted (sent, deferred, suppressed or failed:
        GET /v1/outcomes), so their invitations are at the carrier when customers look."""
        if posted is None:
            return
        span = (posted.day.isoformat(), (posted.day + timedelta(days=1)).isoformat())
        deadline = time.monotonic() + ACCOUNT_TIMEOUT_S
        while (progress := decided(self.stack.outcomes(*span)) - posted.before) < posted.accepted:
            if time.monotonic() > deadline:
                raise NotArrived(f"dispatch decided on {progress} of the {posted.accepted} events posted at "
                                 f"{iso(posted.at)} within {ACCOUNT_TIMEOUT_S:g} s (GET /v1/outcomes: sent, "
                                 "deferred, suppressed, failed): is the stack's runner working? "
                                 "`python -m devstack dead-letters` lists what it refused")
            time.sleep(0.05)

    def _pick_number(self, plan: Planned) -> bool:
        """A US customer's number: one of the carrier's failing numbers for a customer whose texts
        fail, else a number with no conversation open (the hundred are shared across the month);
        without one, the customer is reached by email (an address on file) or not posted."""
        rng = random.Random(f"{self.rng_seed}/number/{plan.index}")
        if plan.behaviour == "fail" and plan.customer.kind == "us_sms":
            plan.phone = rng.choice(FAILING_NUMBERS)
            self.summary.failing_numbers += 1
            return True
        idle = [number for number, line in self.lines.items() if line.idle(self.now)]
        if not idle:
            return plan.email is not None
        plan.phone = rng.choice(idle)
        line = self.lines[plan.phone]
        line.event, line.waiting, line.busy_until = plan, True, None
        return True

    # -- customers read their phones and mailboxes

    def _look(self) -> None:
        """Customers read what reached them since the last look and act on it: what each does is
        decided here, in order; doing it (texting back, sending a form) runs on a few threads, one
        customer's steps in order, as customers do things at the same time."""
        tasks: dict[str, list[Task]] = {}
        for message in self.stack.texts():
            if message["sid"] in self.seen_texts or message["direction"] != "outbound-api":
                continue
            self.seen_texts.add(message["sid"])
            self._on_text(message["to"], message["body"], tasks)
        for sent in self.stack.emails(self.email_cursor):
            self.email_cursor = max(self.email_cursor, int(sent["index"]) + 1)
            self._on_email(sent, tasks)
        for done in [self.pool.submit(run_in_order, steps) for steps in tasks.values() if steps]:
            done.result()
        self._release_waiting_lines()

    def _on_text(self, phone: str, body: str, tasks: dict[str, list[Task]]) -> None:
        line = self.lines.get(phone)
        if line is not None:                                    # a US number: two-way SMS
            kind = self.texts.kind(body)
            if kind in ("invitation", "reminder") and line.event is not None:
                self._two_way(line, kind, tasks)
            return
        for link, survey_id, _score in survey_links(body, self.stack.link_keys)[:1]:   # a link SMS
            plan = self.plans.get(survey_id)
            if plan is not None and self._on_survey(plan, "sms_link"):
                tasks.setdefault(survey_id, []).append(functools.partial(self._answer_on_page, plan, link))

    def _on_email(self, sent: Mapping[str, Any], tasks: dict[str, list[Task]]) -> None:
        links = survey_links(str(sent.get("html") or sent.get("body") or ""), self.stack.link_keys)
        if not links:
            return                                              # a closing message, or an alert to staff
        survey_id = links[0][1]
        plan = self.plans.get(survey_id)
        if plan is None:
            return
        steps = tasks.setdefault(survey_id, [])
        message_id = str(sent["message_id"])
        if self.invited[survey_id] == 0 and plan.behaviour == "opt_out":
            self._count_invitation(plan, "email")
            self.summary.opt_outs += 1
            steps.append(functools.partial(self.stack.unsubscribe, message_id))    # one click in the mail client
        elif self.invited[survey_id] == 0 and plan.behaviour == "bounce" and plan.email:
            self._count_invitation(plan, "email")
            self.summary.bounces += 1
            steps.append(functools.partial(self.stack.bounce, plan.email, message_id))
        elif self._on_survey(plan, "email"):
            score, _ = plan.answer(self.scale_of(plan))
            button = next((link for link, _, s in links if s == score), None)
            steps.append(functools.partial(self._answer_on_page, plan, links[0][0], button))

    def _on_survey(self, plan: Planned, channel: str) -> bool:
        """The invitation (a survey's first message) or the reminder (a later one) of a web survey
        reached its customer: whether they answer it now."""
        seen = self.invited[plan.event_id]
        if seen == 0:
            self._count_invitation(plan, channel)
        else:
            self.invited[plan.event_id] += 1
            self.summary.reminders += 1
        if plan.event_id in self.answered:
            return False
        return (plan.behaviour == "answer" and seen == 0) or (plan.behaviour == "late" and seen >= 1)

    def _count_invitation(self, plan: Planned, channel: str) -> None:
        self.invited[plan.event_id] += 1
        self.summary.surveys_sent[channel] += 1

    def _answer_on_page(self, plan: Planned, link: str, button: str | None = None) -> None:
        """The web survey: opened from the link (or an email's score button, which pre-selects the
        score and records nothing), then the form sent with the score and the comment."""
        scale = self.scale_of(plan)
        score, comment = plan.answer(scale)
        self.stack.open_page(f"{button}?score={score}" if button else link)
        if self.stack.send_form(link, score, comment):
            self._count_answer(plan, scale, comment)

    def _two_way(self, line: Line, kind: str, tasks: dict[str, list[Task]]) -> None:
        plan = line.event
        assert plan is not None and plan.phone is not None
        if kind == "invitation":
            if self.invited[plan.event_id] == 0:
                self._count_invitation(plan, "sms_two_way")
            line.waiting, line.busy_until = False, self.now + RESPONSE_WINDOW + self.step
        else:
            self.invited[plan.event_id] += 1
            self.summary.reminders += 1
        if plan.event_id in self.answered:
            return
        steps = tasks.setdefault(plan.phone, [])
        if plan.behaviour == "opt_out" and kind == "invitation":
            self.summary.opt_outs += 1
            line.busy_until = None
            steps.append(functools.partial(self.stack.text, plan.phone, "STOP"))
        elif (plan.behaviour in ("answer", "bounce") and kind == "invitation") or (
                plan.behaviour == "late" and kind == "reminder"):
            steps.append(functools.partial(self._text_answer, line, plan))

    def _text_answer(self, line: Line, plan: Planned) -> None:
        """The score by SMS (as digits, in words, or with the reason in the same text), then why."""
        assert plan.phone is not None
        scale = self.scale_of(plan)
        score, comment = plan.answer(scale)
        together = comment is not None and scale is Scale.NPS and plan.style < 0.12
        if together:
            first = f"{score}/10 {comment}"
        elif scale is Scale.NPS and plan.style > 0.85:
            first = NPS_WORDS[score]
        else:
            first = str(score)
        for attempt in (first, str(score)):                 # a reply koe cannot read is re-prompted once
            kinds = [self.texts.kind(r) for r in self.stack.text(plan.phone, attempt)["replies"]]
            if "why" in kinds or "thanks" in kinds:
                break
        else:
            return                                          # koe did not take it (no conversation open)
        if comment is not None and not together:
            self.stack.text(plan.phone, comment)
        self._count_answer(plan, scale, comment)
        if comment is not None:
            line.busy_until = None                          # the conversation is over
        # a score without a "why?" keeps the conversation open until its window ends

    def _count_answer(self, plan: Planned, scale: Scale, comment: str | None) -> None:
        with self.lock:
            self.answered.add(plan.event_id)
            self.summary.answered[scale.value] += 1
            self.summary.comments += comment is not None
            self.answer_days.add(self.now.date().isoformat())

    def _release_waiting_lines(self) -> None:
        """A number posted to whose survey was neither sent nor scheduled: dispatch suppressed it (or
        failed it), and the number is free again; one scheduled stays busy until it is released."""
        waiting = [line for line in self.lines.values() if line.waiting]
        if not waiting:
            return
        scheduled = {s.get("survey_id"): s for s in self.stack.scheduled()}
        for line in waiting:
            assert line.event is not None
            entry = scheduled.get(line.event.event_id)
            line.waiting = False
            if entry is not None:
                send_at = parse_time(str(entry.get("send_at") or iso(self.now)))
                line.busy_until = send_at + RESPONSE_WINDOW + self.step

    def scale_of(self, plan: Planned) -> Scale:
        return self.stack.definitions.for_procedure(plan.procedure).scale

    # -- the CX team works its cases

    def _case_codes(self) -> dict[str, list[str]]:
        admin = self.stack.token(self.now, "cx_admin")
        codes = self.stack.cx("GET", "/v1/case-codes", admin)
        return {"root_causes": [c["code"] for c in codes["root_causes"]],
                "actions": [c["code"] for c in codes["actions"]]}

    def _work_cases(self) -> None:
        admin = self.stack.token(self.now, "cx_admin")
        for case in self._cases(admin, "open,in_progress"):
            if str(case["case_id"]) not in self.plans:
                continue                                        # not this month's (an earlier seed's)
            plan = self.case_plans.get(case["case_id"])
            if plan is None:
                plan = self.case_plans[case["case_id"]] = self._plan_case(case)
            if plan.kind == "leave" or plan.resolved:
                continue
            if not plan.claimed and plan.claim_at <= self.now:
                self._claim(case, plan)
            elif plan.claimed and plan.kind == "resolve" and plan.resolve_at <= self.now:
                self._resolve(case, plan)

    def _cases(self, bearer: str, status: str | None = None, overdue: bool = False) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "100", **({"status": status} if status else {}),
                                  **({"overdue": "true"} if overdue else {})}
        while True:
            page = self.stack.cx("GET", "/v1/cases", bearer, params=params)
            found.extend(page["cases"])
            if not page.get("next_cursor"):
                return found
            params["cursor"] = page["next_cursor"]

    def _plan_case(self, case: Mapping[str, Any]) -> CasePlan:
        rng = random.Random(f"{self.rng_seed}/case/{self.plans[str(case['case_id'])].index}")
        # What happens to a case follows the order cases open in (CASE_KINDS, 60 % resolved, 15 %
        # called, 25 % left), not a draw per case: which customers become cases depends on the days
        # seeded, and independent draws could leave a short seed's few cases all unresolved.
        kind = CASE_KINDS[len(self.case_plans) % len(CASE_KINDS)]
        claim_at = self.now + timedelta(hours=rng.uniform(1, 30))
        outcome = weighted(rng, (("reached", 0.7), ("no_answer", 0.2), ("left_message", 0.1)))
        return CasePlan(str(case["case_id"]), kind, claim_at, claim_at + timedelta(hours=rng.uniform(2, 60)), outcome)

    def _worker(self, case: Mapping[str, Any]) -> str:
        """The bearer of whoever works the case: its agent, its branch's manager, or central (cx_admin)."""
        owner = str(case.get("owner", ""))
        kind, _, who = owner.partition(":")
        if kind == "agent":
            return self.stack.token(self.now, "agent", agent=who, branch=case.get("branch"))
        if kind == "branch":
            return self.stack.token(self.now, "branch_manager", branch=who)
        if kind == "person" and who.startswith("local-branch_manager") and case.get("branch"):
            return self.stack.token(self.now, "branch_manager", branch=str(case["branch"]))
        return self.stack.token(self.now, "cx_admin")

    def _act(self, case_id: str, bearer: str, move: str, version: int, **fields: str) -> int:
        """One move at the version read; a version conflict (the ladder or a late comment saved the
        case meanwhile) is read again and tried again. Returns the new version."""
        for _ in range(3):
            answer = self.stack.cx("POST", f"/v1/cases/{case_id}/{move}", bearer, expect=(200, 409),
                                   json={"version": version, **fields})
            if answer.get("code") is None:
                return int(answer["version"])
            if answer.get("code") != "version_conflict":
                raise SeedError(f"case {case_id}: {move} refused ({answer.get('code')}): {answer.get('error')}")
            version = int(self.stack.cx("GET", f"/v1/cases/{case_id}", bearer)["version"])
        raise SeedError(f"case {case_id}: {move} kept meeting newer versions")

    def _claim(self, case: Mapping[str, Any], plan: CasePlan) -> None:
        bearer = self._worker(case)
        version = self._act(plan.case_id, bearer, "claim", int(case["version"]))
        self.summary.cases_worked["claimed"] += 1
        version = self._act(plan.case_id, bearer, "reveal", version)      # the owner looks up the number
        words = CALL_NOTES.get(self.plans[plan.case_id].customer.locale.split("-")[0], CALL_NOTES["en"])
        if plan.outcome != "reached":       # a first try that did not reach them, then a call that did
            version = self._act(plan.case_id, bearer, "contact-attempts", version, outcome=plan.outcome,
                                note=words[plan.outcome])
        self._act(plan.case_id, bearer, "contact-attempts", version, outcome="reached", note=words["reached"])
        self.summary.cases_worked["contacted"] += 1
        plan.claimed = True

    def _resolve(self, case: Mapping[str, Any], plan: CasePlan) -> None:
        rng = random.Random(f"{self.rng_seed}/resolve/{self.plans[plan.case_id].index}")
        self._act(plan.case_id, self._worker(case), "resolve", int(case["version"]),
                  root_cause=rng.choice(self.codes["root_causes"]), action=rng.choice(self.codes["actions"]))
        self.summary.cases_worked["resolved"] += 1
        plan.resolved = True

    # -- the end: every answer counted, and what koe made of the month

    def _settle(self, start: datetime) -> None:
        """Wait until /v1/scores counts every answer given (the responses stream runs behind)."""
        given = sum(self.summary.answered.values())
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            counted = sum(r["total"]["n"] for r in self._scores(start)["results"])
            if counted >= given:
                return
            if time.monotonic() > deadline:
                raise NotArrived(f"/v1/scores counts {counted} of the {given} answers given, "
                                 f"{SETTLE_TIMEOUT_S:g} s after the last: the responses stream (on_response) "
                                 "did not catch up")
            time.sleep(0.5)

    def _scores(self, start: datetime, period: str | None = None) -> dict[str, Any]:
        admin = self.stack.token(self.now, "cx_admin")
        params = {"dimension": "procedure", "from": (start.date() - timedelta(days=1)).isoformat(),
                  "to": (self.now.date() + timedelta(days=1)).isoformat(), **({"period": period} if period else {})}
        answer: dict[str, Any] = self.stack.cx("GET", "/v1/scores", admin, params=params)
        return answer

    def _tally(self, start: datetime) -> None:
        s = self.summary
        s.ended_at = iso(self.now)
        s.wall_clock = str(self.stack.clock()["wall_clock"])
        s.answered_days = len(self.answer_days)
        s.non_responders = sum(s.surveys_sent.values()) - sum(s.answered.values()) - s.opt_outs - s.bounces
        outcomes, before = self._outcomes(start, self.now), self.baseline
        s.suppressed = by_reason(outcomes.get("suppressed", {}), before.get("suppressed", {}))
        s.failed = by_reason(outcomes.get("failed", {}), before.get("failed", {}))
        s.deferred = int(outcomes.get("deferred", 0)) - int(before.get("deferred", 0))
        admin = self.stack.token(self.now, "cx_admin")
        mine = [c for c in self._cases(admin) if str(c["case_id"]) in self.plans]
        s.cases = Counter(str(c["status"]) for c in mine)
        s.cases_overdue = sum(1 for c in mine if c.get("overdue"))

    def _outcomes(self, start: datetime, end: datetime) -> dict[str, Any]:
        """GET /v1/outcomes' totals over the seeded days (a day more each side: days are UTC's)."""
        answer: dict[str, Any] = self.stack.outcomes((start.date() - timedelta(days=1)).isoformat(),
                                                     (end.date() + timedelta(days=1)).isoformat())["total"]
        return answer


def by_reason(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """What this seed added to counts by reason."""
    added = {reason: int(n) - int(before.get(reason, 0)) for reason, n in after.items()}
    return {reason: n for reason, n in added.items() if n}


def decided(outcomes: Mapping[str, Any]) -> int:
    """What dispatch has decided so far, from GET /v1/outcomes: sent, deferred, suppressed, failed."""
    total = outcomes.get("total", {})
    return (int(total.get("sent", 0)) + int(total.get("deferred", 0))
            + sum(int(n) for n in total.get("suppressed", {}).values())
            + sum(int(n) for n in total.get("failed", {}).values()))


def seed(stack_info: Mapping[str, Any], days: int = DEFAULT_DAYS, events_per_day: int = DEFAULT_PER_DAY,
         rng_seed: int = DEFAULT_RNG_SEED, progress: Callable[[Progress], None] | None = None,
         step_hours: float = STEP_HOURS) -> Summary:
    """Seed the running stack described by `stack_info` (its ready file's content) with `days` days
    of `events_per_day` completed procedures and what their customers and the CX team did."""
    return Seeder(Stack(stack_info), days, events_per_day, rng_seed, progress, step_hours).run()
