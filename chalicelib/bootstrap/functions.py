"""One wiring per Lambda function (`resources.FUNCTIONS`): the use cases its handlers run
(`bootstrap/use_cases.py`), and so the pieces of the edge it may reach. app.py's handlers each ask for
their own function's (`bootstrap.wired(Dispatch)`); in AWS a process runs one function and builds
nothing another one needs.
"""

from __future__ import annotations

from chalicelib.bootstrap.use_cases import (
    AlertDelivery,
    Answers,
    Authentication,
    ChinaSmsReceipts,
    CommentInsight,
    Dispatching,
    EmailFeedback,
    Export,
    Intake,
    LineReplies,
    Schedule,
    WebPages,
    WeChatEvents,
    Workspace,
)
from chalicelib.bootstrap.wiring import Wiring
from chalicelib.resources import API_HANDLER


class Api(Authentication, Intake, LineReplies, WeChatEvents, WebPages, ChinaSmsReceipts, Workspace, Export):
    """Every HTTP route: intake, the customers' replies (SMS and LINE), pages and carrier callbacks (Twilio's,
    Alibaba's receipts, WeChat's event pushes), the CX API and
    dashboard (reports, cases, comments, the answers export) and the case workspace."""


class Dispatch(Dispatching):
    """Surveys each event once, or dead-letters it and ends the survey it opened."""


class OnSesEvent(EmailFeedback):
    """A hard bounce or a complaint opts the address out of email."""


class OnResponse(Answers):
    """Counts each answer once, opens cases, asks for the comments to be read."""


class DeliverAlerts(AlertDelivery):
    """Each case alert to each destination once."""


class AnalyseComments(CommentInsight):
    """Reads a comment's sentiment and key phrases; a strongly negative one may open a case."""


class Tick(Schedule):
    """Every minute: scheduled surveys and reminders, ended conversations, the cases' ladders."""


# resources.FUNCTIONS handler -> its wiring (tests/unit/test_wiring.py holds each to its grants).
BY_FUNCTION: dict[str, type[Wiring]] = {
    API_HANDLER: Api, "dispatch": Dispatch, "on_ses_event": OnSesEvent, "on_response": OnResponse,
    "deliver_alerts": DeliverAlerts, "analyse_comments": AnalyseComments, "tick": Tick,
}
