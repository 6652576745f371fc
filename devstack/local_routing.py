"""The local stack's routing table (KOE_CASE_ROUTING) and alert settings: fictional people with
example.jp addresses, so the CX alerts koe delivers show up in the local mailbox (`GET /emails?to=`,
`/mailbox` on the carrier), and the central CX channel is a chat webhook on the carrier
(`GET /chat?channel=cx-central`). The branches and agents are those of the sample events
(`python -m devstack` prints one) and of the end-to-end tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

CENTRAL_CHANNEL = "cx-central"
# Failed alert deliveries come back after 2 s, 4 s, 8 s, 16 s (AWS: 30 s, 60 s ...): locally, within
# a minute; the runner's own retry visibility is 2 s as well.
ALERT_RETRY_SECONDS = 2
# A destination's claim outlives a sender that died by 20 s (AWS: 2 minutes): the local chat webhook
# and mailbox answer within a second.
ALERT_LEASE_SECONDS = 20


def routing(chat_webhook: Callable[[str], str]) -> dict[str, Any]:
    """`chat_webhook(channel)` is the carrier's URL of a local chat channel."""
    return {
        "central": {"queue": "cx", "lead": "cx-lead", "email": "cx@example.jp",
                    "chat": chat_webhook(CENTRAL_CHANNEL), "language": "ja", "timezone": "Asia/Tokyo"},
        "branches": {
            "tokyo-chuo": {"manager": "mgr-tokyo-chuo", "email": "tokyo-chuo@example.jp", "language": "ja",
                           "timezone": "Asia/Tokyo"},
            "shanghai-01": {"manager": "mgr-shanghai-01", "email": "shanghai-01@example.jp", "language": "zh",
                            "timezone": "Asia/Shanghai"},
            "new-york-01": {"manager": "mgr-new-york-01", "email": "new-york-01@example.jp", "language": "en",
                            "timezone": "America/New_York"},
        },
        "agents": {
            "A-102": {"branch": "tokyo-chuo", "active": True},
            "A-210": {"branch": "shanghai-01", "active": True},
            "A-310": {"branch": "new-york-01", "active": True},
        },
        "people": {
            "A-102": {"email": "a-102@example.jp", "language": "ja", "timezone": "Asia/Tokyo"},
            "A-210": {"email": "a-210@example.jp", "language": "zh", "timezone": "Asia/Shanghai"},
            "A-310": {"email": "a-310@example.jp", "language": "en", "timezone": "America/New_York"},
            "mgr-tokyo-chuo": {"email": "mgr-tokyo-chuo@example.jp", "language": "ja", "timezone": "Asia/Tokyo"},
            "mgr-shanghai-01": {"email": "mgr-shanghai-01@example.jp", "language": "zh",
                                "timezone": "Asia/Shanghai"},
            "mgr-new-york-01": {"email": "mgr-new-york-01@example.jp", "language": "en",
                                "timezone": "America/New_York"},
            "cx-lead": {"email": "cx-lead@example.jp", "language": "en", "timezone": "Asia/Tokyo"},
        },
    }


def settings(chat_webhook: Callable[[str], str]) -> dict[str, str]:
    """The settings variables the local stack adds for cases and their alerts."""
    return {"KOE_CASE_ROUTING": json.dumps(routing(chat_webhook)),
            "KOE_ALERT_RETRY_SECONDS": str(ALERT_RETRY_SECONDS), "KOE_ALERT_LEASE_SECONDS": str(ALERT_LEASE_SECONDS)}
