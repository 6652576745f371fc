"""LINE's webhook, event by event (the route has verified the signature: adapters/line_messaging.py).

- `message`: the customer wrote, or tapped a quick-reply score (it arrives as their message). It
  goes to the conversation every two-way channel shares (services/handle_reply.answer) under the
  LINE user id's contact, and koe answers ("why?", thanks, a re-prompt with the buttons again) with a
  **reply** (free) while the event's reply token is usable, else with a **push** (costs a message)
  whose retry key is named by the survey and the webhook event id: a push replayed within 24 hours
  is delivered once. A reply that surely failed (the token refused, LINE refused it) is pushed
  instead; one in doubt (a 5xx, a timeout: LINE may have delivered it) is not, since the reply API
  takes no retry key and a push could reach the customer twice.
  The answer was recorded before either. A message that is not text (a sticker, an image) is counted
  and left unanswered.
- `unfollow`: the customer blocked koe's account: the LINE user id opts out of LINE (its open
  survey ends `opted_out`), and of LINE only: their phone and email are other addresses.
- `follow`: a new friend, or one who unblocked the account: counted, nothing to do (an opt-out of
  LINE stays until they send START / 再開).
- any other event (postback, a group's message, a type LINE adds later): counted by the adapter.

Idempotent on the webhook event id: the survey remembers the last message id it answered (a replay
changes nothing), and an opt-out or opt-in that finds its state already changes nothing; a
redelivery (`deliveryContext.isRedelivery`: koe did not answer 2xx the first time) that changed
nothing is not answered twice.

Never logged: the LINE user id (its `user_ref` hash instead), the words, the reply token.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain import line
from chalicelib.domain.line import LineEvent, LineEventKind, user_ref
from chalicelib.errors import KoeError, ReplyTokenExpired, RetryableSendError
from chalicelib.observability import count, logger
from chalicelib.services import contacts
from chalicelib.services.handle_reply import LINE, InboundMessage, Reply, ReplyDeps, answer, open_survey, opt_out
from chalicelib.services.ports import LineMessenger
from chalicelib.services.send_survey import score_choices

# The answers that ask for the score again: on LINE they carry the scale's buttons, as the invitation does.
ASKS_FOR_A_SCORE = frozenset({"reprompt", "help"})
UNFOLLOW_AUDIT = "line:unfollow"


@dataclass(frozen=True)
class LineDeps:
    replies: ReplyDeps                     # the conversation every two-way channel shares
    line: LineMessenger
    clock: Callable[[], datetime]


def handle_events(events: Sequence[LineEvent], deps: LineDeps) -> dict[str, int]:
    """Each event in order; how many ended each way (no personal data)."""
    return dict(Counter(handle_event(event, deps) for event in events))


def handle_event(event: LineEvent, deps: LineDeps) -> str:
    if event.kind is LineEventKind.IGNORED or event.user_id is None:
        return "ignored"
    if event.kind is LineEventKind.FOLLOW:
        count("LineFollowed")
        return "followed"
    if event.kind is LineEventKind.UNFOLLOW:
        return _unfollow(event, event.user_id, deps)
    if event.text is None:
        count("LineMessageNotText")
        logger.info("line message that is not text, not answered",
                    extra={"event_id": event.event_id, "message_type": event.message_type})
        return "not_text"
    reply = answer(InboundMessage(LINE, event.event_id, event.user_id, event.text), deps.replies)
    if reply is None:
        return "kept"
    if reply.replayed or (event.redelivery and not reply.changed):
        count("LineRedeliveryNotAnswered")
        logger.info("line event seen before: not answered twice", extra={"event_id": event.event_id})
        return "replayed"
    return _deliver(reply, event, event.user_id, deps)


def _unfollow(event: LineEvent, user_id: str, deps: LineDeps) -> str:
    """The LINE user id opts out of LINE, and its open survey ends; nothing is sent (LINE delivers
    nothing to a customer who blocked the account)."""
    replies = deps.replies
    now = deps.clock()
    found = contacts.read(replies.store, user_id, replies.contact_key, replies.contact_keys)
    survey = open_survey(found, now, replies)
    changed = opt_out(found, survey, event.event_id, UNFOLLOW_AUDIT, now, replies)
    count("LineUnfollowed" if changed else "LineUnfollowSeenBefore")
    logger.info("line unfollow: opted out of line", extra={"event_id": event.event_id, "user_ref": user_ref(user_id),
                                                           "survey_id": survey.survey_id if survey else None,
                                                           "changed": changed})
    return "opted_out" if changed else "replayed"


def _deliver(reply: Reply, event: LineEvent, user_id: str, deps: LineDeps) -> str:
    """The answer as a reply while the token is usable, else (or when the reply surely failed) as a
    push. A reply in doubt (LINE may have delivered it: a 5xx, a timeout) is not pushed again: the
    reply API takes no retry key, so a push could reach the customer twice."""
    choices = score_choices(reply.scale) if reply.key in ASKS_FOR_A_SCORE and reply.survey_id else ()
    if event.reply_token and line.reply_token_usable(event.timestamp, deps.clock()):
        replied = _replied(reply, event, event.reply_token, choices, deps)
        if replied is not None:
            return replied
    key = line.retry_key(reply.survey_id or "no-survey", f"answer#{event.event_id}")
    try:
        if choices:
            deps.line.push_survey(user_id, reply.text, choices, key)
        else:
            deps.line.push_text(user_id, reply.text, key)
    except KoeError as exc:
        # The customer's answer is recorded; only koe's answer to it is lost. LINE would redeliver
        # the event on a 5xx, and the replay guard would not answer it again: counted, logged, 200.
        count("LineAnswerNotDelivered")
        logger.error("line answer neither replied nor pushed", extra={"event_id": event.event_id,
                                                                     "survey_id": reply.survey_id,
                                                                     "error": type(exc).__name__})
        return "not_answered"
    count("LineAnswered", by="push")
    return "pushed"


def _replied(reply: Reply, event: LineEvent, token: str, choices: Sequence[str], deps: LineDeps) -> str | None:
    """The outcome of answering with the reply token, or None when the answer must be pushed instead
    (the token refused, or a failure LINE surely did not deliver)."""
    try:
        deps.line.reply(token, reply.text, choices)
    except ReplyTokenExpired:
        return None                 # counted by the adapter (LineReplyTokenRefused)
    except KoeError as exc:
        if isinstance(exc, RetryableSendError) and exc.in_doubt:
            count("LineReplyInDoubt")
            logger.warning("line reply in doubt: not pushed again", extra={"event_id": event.event_id,
                                                                          "error": type(exc).__name__})
            return "in_doubt"
        count("LineReplyFailed")
        logger.warning("line reply failed, pushing instead", extra={"event_id": event.event_id,
                                                                    "error": type(exc).__name__})
        return None
    count("LineAnswered", by="reply")
    return "answered"
