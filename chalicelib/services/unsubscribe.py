"""An email's unsubscribe link, `/u/{token}` (the token signed for the purpose "unsubscribe", carrying
the survey id; the survey keeps the address it was sent to).

`show` (GET) only asks: mail scanners open every link, so opening the link changes nothing.
`unsubscribe` (POST: the page's button, or a mail client's one-click POST, RFC 8058) opts the email
address's own contact out (keyed by the address's hash, `email:unsubscribe` in its audit). Dispatch
then treats email as blocked for that customer: a customer with a phone is surveyed on the next
channel of their country, an email-only customer is not surveyed. The phone's contact, and so SMS,
is untouched. Idempotent: a second POST answers the same page and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain import survey_token
from chalicelib.domain import web_survey as web
from chalicelib.domain.model import Survey
from chalicelib.domain.web_survey import Page, PageKind
from chalicelib.observability import count, logger
from chalicelib.services import contacts
from chalicelib.services.contacts import ContactKeys
from chalicelib.services.ports import ConversationStore, Pages

PURPOSE = "unsubscribe"
AUDIT = "email:unsubscribe"


@dataclass(frozen=True)
class UnsubscribeDeps:
    store: ConversationStore
    pages: Pages
    links: Callable[[], survey_token.LinkKeys]   # the listed link keys, read when a token is (they rotate)
    contact_key: Callable[[str], str]     # keyed hash of an email address (the current key version)
    clock: Callable[[], datetime]
    contact_keys: ContactKeys | None = None    # every listed key version (None: contact_key's only)


@dataclass(frozen=True)
class UnsubscribeOutcome:
    outcome: str             # unsubscribe, unsubscribed, not_found (http.WEB_STATUS)
    html: str


def link(keys: survey_token.LinkKeys, base_url: str, survey: Survey) -> str:
    """The survey's unsubscribe link: `<base_url>/<token>`, the token signed for "unsubscribe"."""
    return f"{base_url}/{keys.sign(survey.survey_id, PURPOSE)}"


def show(token: str, accept_language: str | None, deps: UnsubscribeDeps) -> UnsubscribeOutcome:
    """The page for a GET: "stop survey emails to h*****@example.jp?" with a button."""
    survey = _survey(token, deps)
    if survey is None or not survey.email:
        return _not_found(accept_language, deps)
    page = Page(PageKind.UNSUBSCRIBE, web.page_language(survey.locale), survey.procedure,
                address=web.masked_address(survey.email))
    return UnsubscribeOutcome("unsubscribe", deps.pages.render(page))


def unsubscribe(token: str, accept_language: str | None, deps: UnsubscribeDeps) -> UnsubscribeOutcome:
    """A POST: opt the address's contact out of email (once), then say so."""
    survey = _survey(token, deps)
    if survey is None or not survey.email:
        return _not_found(accept_language, deps)
    found = contacts.read(deps.store, survey.email, deps.contact_key, deps.contact_keys)
    key, contact = found.key, found.contact
    if contact is not None and contact.opted_out:
        count("EmailUnsubscribeRepeated")
    else:
        deps.store.set_opt_out(key, True, AUDIT, deps.clock())
        count("EmailUnsubscribed")
        logger.info("email address unsubscribed", extra={"survey_id": survey.survey_id})
    page = Page(PageKind.UNSUBSCRIBED, web.page_language(survey.locale), survey.procedure,
                address=web.masked_address(survey.email))
    return UnsubscribeOutcome("unsubscribed", deps.pages.render(page))


def _survey(token: str, deps: UnsubscribeDeps) -> Survey | None:
    try:
        survey_id = deps.links().verify(token, PURPOSE)
    except survey_token.TamperedToken as exc:
        count("UnsubscribeTokenRefused")
        logger.info("unsubscribe token refused", extra={"unknown_key_id": isinstance(exc, survey_token.UnknownKeyId)})
        return None
    return deps.store.get_survey(survey_id)


def _not_found(accept_language: str | None, deps: UnsubscribeDeps) -> UnsubscribeOutcome:
    page = Page(PageKind.NOT_FOUND, web.preferred_language(accept_language))
    return UnsubscribeOutcome("not_found", deps.pages.render(page))
