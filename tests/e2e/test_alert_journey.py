"""The CX team hears about a case, through the whole local stack (`python -m devstack`): a case alert
published on the cx-alerts topic (as the case side publishes it) reaches the owner's mailbox and the
central chat channel (the carrier's local webhook), in the reader's language, once, however often it
is published. The local stack's routing table is devstack/local_routing.py."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from chalicelib.domain import case_alerts
from devstack.local_routing import CENTRAL_CHANNEL
from tests.e2e.harness import OPEN_ALL_DAY, eventually, local_stack
from tests.fakes.alert_delivery import an_alert

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with local_stack(tmp_path_factory.mktemp("stack"), OPEN_ALL_DAY) as running:
        yield running


def publish(stack: dict[str, Any], message: dict[str, Any]) -> None:
    sns = boto3.client("sns", endpoint_url=stack["moto_endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    sns.publish(TopicArn=stack["env"]["KOE_CX_TOPIC_ARN"], Message=json.dumps(message, ensure_ascii=False),
                MessageAttributes={k: {"DataType": "String", "StringValue": v}
                                   for k, v in case_alerts.attributes(message).items() if v})


def emails(stack: dict[str, Any], to: str, case_id: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{stack['carrier_url']}/emails", params={"to": to}, timeout=10)
    return [e for e in answer.json() if case_id in e["body"]]


def chats(stack: dict[str, Any], case_id: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{stack['carrier_url']}/chat", params={"channel": CENTRAL_CHANNEL}, timeout=10)
    return [m for m in answer.json() if case_id in m["payload"]["text"]]


def test_a_case_alert_reaches_the_owner_by_email_and_central_by_chat_once(stack: dict[str, Any]) -> None:
    case_id = f"claims-e2e-{uuid.uuid4().hex[:8]}"
    alert = an_alert("opened", to=("agent:A-102", "central"), case_id=case_id)
    publish(stack, alert)
    publish(stack, alert)                                    # published twice: delivered once

    [owner] = eventually(lambda: emails(stack, "a-102@example.jp", case_id))
    assert owner["subject"].startswith("【koe】新しいフォロー案件：保険金のお支払い（tokyo-chuo）")
    assert eventually(lambda: emails(stack, "cx@example.jp", case_id))
    [chat] = eventually(lambda: chats(stack, case_id))
    assert chat["payload"]["text"].startswith("*【koe】新しいフォロー案件")
    time.sleep(3)                                            # let a duplicate arrive before counting
    assert len(emails(stack, "a-102@example.jp", case_id)) == 1 and len(chats(stack, case_id)) == 1
