"""How fast the schedule may hand messages to a sender: the release of a morning's deferred surveys
and the reminders go out at the carrier's rate, spread over the tick, never as a burst the carrier
answers with 429s (or queues for hours).

A sender is a channel's transport (domain/channels.py): the SMS number pool (both SMS channels) or
the email sender. Its rate is messages per second (KOE_SEND_RATES: Twilio takes about 1 a second from
a US long code, 3 from a toll-free number, 100 from a short code, per sender; SES the account's
maximum send rate); a sender without one goes as fast as the carrier answers, as before. The n-th
send of a sender in one tick waits until start + n / rate: the schedule spaces its sends, it does not
count on the carrier to refuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from chalicelib.domain import channels

# Which sender each channel goes through, and the senders a rate may be given for.
SENDER_OF = {row.name: row.transport for row in channels.all_channels()}
SENDERS = channels.transports()
MAX_RATE = 10_000.0


class InvalidRates(ValueError):
    """KOE_SEND_RATES is not `sender=messages per second` pairs of known senders."""


@dataclass(frozen=True)
class SendRates:
    per_second: Mapping[str, float] = field(default_factory=dict)      # sender -> messages per second

    def of(self, channel: str) -> float | None:
        return self.per_second.get(SENDER_OF.get(channel, channel))

    @classmethod
    def parse(cls, text: str) -> SendRates:
        """`sms=1,email=14` (messages per second per sender); empty: no pacing."""
        rates: dict[str, float] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            sender, sep, value = part.partition("=")
            sender = sender.strip().lower()
            if not sep or sender not in SENDERS:
                raise InvalidRates(f"a rate is sender=messages per second with sender one of {', '.join(SENDERS)}, "
                                   f"got {part!r}")
            try:
                rate = float(value)
            except ValueError as exc:
                raise InvalidRates(f"{sender}: {value!r} is not a number") from exc
            if not 0 < rate <= MAX_RATE:
                raise InvalidRates(f"{sender}: a rate is above 0 and at most {MAX_RATE:g} a second")
            rates[sender] = rate
        return cls(rates)


class Pacer:
    """One tick's spacing of sends per sender. `monotonic` and `sleep` are the clock it waits on."""

    def __init__(self, rates: SendRates, monotonic: Callable[[], float], sleep: Callable[[float], None]):
        self._rates, self._monotonic, self._sleep = rates, monotonic, sleep
        self._start: dict[str, float] = {}
        self._sent: dict[str, int] = {}

    @property
    def paced(self) -> bool:
        """Whether any sender has a rate (a tick then releases as many as its time allows)."""
        return bool(self._rates.per_second)

    def next_slot(self, channel: str) -> float:
        """Seconds from now until the next send of this channel's sender may start (0: now)."""
        rate = self._rates.of(channel)
        if rate is None:
            return 0.0
        sender = SENDER_OF.get(channel, channel)
        now = self._monotonic()
        start = self._start.setdefault(sender, now)
        return max(0.0, start + self._sent.get(sender, 0) / rate - now)

    def wait(self, channel: str) -> float:
        """Wait for this sender's next slot and take it; the seconds waited."""
        delay = self.next_slot(channel)
        if delay > 0:
            self._sleep(delay)
        sender = SENDER_OF.get(channel, channel)
        self._sent[sender] = self._sent.get(sender, 0) + 1
        return delay

    def sent(self) -> Mapping[str, int]:
        return dict(self._sent)
