"""Customers surveyed on their market's channels through the whole local stack (`python -m devstack`).

LINE (Japan): the real `line-bot-sdk` pushes to the LINE Platform stand-in (devstack/line.py), which
posts LINE's signed webhooks to koe's `/line/webhook` as the customer taps and writes. The invitation is
a push with a button per score; a tapped "3" is answered "why?", the comment with thanks (replies, on
the event's reply token); the detractor's case is worked and its closing message goes out on LINE. A
redelivered webhook changes nothing and a forged one is refused. Blocking koe's account (unfollow) opts
the LINE user id out of LINE: the next procedure falls back to the policy's next channel, with the reason.

China SMS (mainland China): the real Alibaba Cloud SMS SDK sends an approved template (devstack/
local_cn_sms.py) to the Alibaba stand-in (devstack/alibaba_sms.py, which verifies the SDK's signature),
which pushes its delivery report and the customer's replies to koe's receipt routes. The customer answers
on the survey page; the detractor's case is worked and closed by China SMS; 退订 stops every survey.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import local_cn_sms, tokens
from devstack.stack import ALIBABA_RECEIPT_TOKEN
from tests.e2e.harness import OPEN_ALL_DAY, Koe, eventually, local_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "tests" / "events" / "procedure-completed.json").read_text())
NPS_BUTTONS = [str(score) for score in range(11)]


@pytest.fixture(scope="module")
def koe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Koe]:
    with local_stack(tmp_path_factory.mktemp("channels"), OPEN_ALL_DAY) as running:
        yield Koe(running)


def line_user() -> str:
    return "U" + uuid.uuid4().hex          # fictional: U and 32 hex digits, as LINE writes user ids


def completed_now(koe: Koe, kind: str, **customer: str) -> dict[str, Any]:
    """The sample event, completed now on the stack's clock, for a new customer described by `customer`."""
    event = json.loads(json.dumps(SAMPLE))
    event["event_id"] = f"e2e-{kind}-{uuid.uuid4().hex[:10]}"
    event["completed_at"] = koe.now().isoformat(timespec="seconds")
    event["customer"] = {"id": f"C-{uuid.uuid4().hex[:6]}", **customer}
    return event


def japanese_customer(koe: Koe, user: str, phone: str) -> dict[str, Any]:
    return completed_now(koe, "line", phone=phone, line_user_id=user, locale="ja-JP", timezone="Asia/Tokyo")


def api(koe: Koe, bearer: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{koe.api}{path}", json=body, timeout=10,
                            headers={"authorization": f"Bearer {bearer}"})


def token(koe: Koe, role: str, **scope: str) -> str:
    return tokens.mint(koe.env["KOE_LOCAL_TOKEN_SECRET"], role, now=tokens.stack_now(koe.carrier), **scope)


def resolve_as_its_owner(koe: Koe, case_id: str, version: int) -> None:
    """Agent A-102 (the sample's branch tokyo-chuo) claims the case, reaches the customer and resolves it;
    an action answered 409 (the comment or a rung came in since) is made again on the case as it is."""
    agent = token(koe, "agent", agent="A-102", branch="tokyo-chuo")
    for action, extra in (("claim", {}), ("contact-attempts", {"outcome": "reached"}),
                          ("resolve", {"root_cause": "claim_delay", "action": "apologised"})):
        answer = api(koe, agent, "POST", f"/v1/cases/{case_id}/{action}", {"version": version, **extra})
        if answer.status_code == 409:
            version = api(koe, agent, "GET", f"/v1/cases/{case_id}").json()["version"]
            answer = api(koe, agent, "POST", f"/v1/cases/{case_id}/{action}", {"version": version, **extra})
        assert answer.status_code == 200, answer.text
        version = answer.json()["version"]


def conversation(survey: dict[str, Any] | None) -> dict[str, Any]:
    """Where the survey's conversation stands (other fields may move on their own: insight, the case)."""
    assert survey is not None
    return {name: survey.get(name) for name in ("status", "score", "step", "reprompts", "last_inbound_sid",
                                                "last_reply_key")}


def last_from_koe(koe: Koe, user: str, count: int) -> dict[str, Any]:
    """koe's `count`-th message to the user, once it is there."""
    sent = eventually(lambda: len(found := koe.line_from_koe(user)) >= count and found)
    assert sent, f"koe sent {koe.line_from_koe(user)!r}"
    return dict(sent[count - 1])


def test_a_detractor_answers_on_line_and_is_told_on_line_what_was_done(koe: Koe) -> None:
    user, phone = line_user(), "+819000020161"
    assert koe.line_customer("follow", user=user)["app_status"] == 200      # a friend of koe's account
    event = japanese_customer(koe, user, phone)
    assert koe.post(event).status_code == 202

    # The invitation is a LINE push, in Japanese, with a quick-reply button per score (0 to 10)
    invitation = last_from_koe(koe, user, 1)
    assert invitation["direction"] == "push" and invitation["delivered"]
    assert invitation["text"].startswith("Example Lifeです。保険金のお支払い手続きはいかがでしたか")
    assert invitation["choices"] == NPS_BUTTONS
    survey = koe.survey_once(event["event_id"], "sent")
    assert (survey["channel"], survey["channel_reason"]) == ("line", "JP:line")
    assert koe.invitations(phone) == []                     # no SMS: LINE reached the customer

    # Tapping "3" sends its text; koe asks why, as a (free) reply to that message
    tapped = koe.line_says(user, invitation["choice_texts"][3])
    assert tapped["app_status"] == 200
    why = last_from_koe(koe, user, 2)
    assert (why["direction"], why["choices"]) == ("reply", [])
    assert "理由" in why["text"]
    comment = "書類の説明が分かりにくく、何度も問い合わせました"
    written = koe.line_says(user, comment)
    thanks = last_from_koe(koe, user, 3)
    assert thanks["direction"] == "reply" and thanks["text"].startswith("ご回答ありがとうございました")
    answered = conversation(koe.survey_once(event["event_id"], "answered"))
    assert answered["score"] == 3

    # LINE redelivers the comment (as if koe had not answered 2xx): nothing changes, nothing is sent
    again = koe.line_customer("redeliver", event_id=written["event_id"])
    assert again["app_status"] == 200 and again["event_id"] == written["event_id"]
    assert len(koe.line_from_koe(user)) == 3
    assert conversation(koe.survey(event["event_id"])) == answered

    # A webhook not signed with the channel's secret is refused, and changes nothing
    body = json.dumps({"destination": "U" + "0" * 32, "events": [{
        "type": "message", "mode": "active", "timestamp": 0, "webhookEventId": "01" + "F" * 24,
        "deliveryContext": {"isRedelivery": False}, "source": {"type": "user", "userId": user},
        "replyToken": uuid.uuid4().hex, "message": {"type": "text", "id": "1", "text": "10"}}]}).encode()
    forged = base64.b64encode(hmac.new(b"not-the-channel-secret", body, hashlib.sha256).digest()).decode()
    refused = requests.post(f"{koe.api}/line/webhook", data=body, timeout=10,
                            headers={"content-type": "application/json", "x-line-signature": forged})
    assert refused.status_code == 403
    assert conversation(koe.survey(event["event_id"])) == answered and len(koe.line_from_koe(user)) == 3

    # The detractor's case opens; its owner works it and resolves it
    admin = token(koe, "cx_admin")
    case_id = event["event_id"]
    opened = eventually(lambda: (r := api(koe, admin, "GET", f"/v1/cases/{case_id}")).status_code == 200 and r.json())
    assert opened, "no case was opened"
    assert opened["owner"] == "agent:A-102"
    commented = eventually(lambda: (c := api(koe, admin, "GET", f"/v1/cases/{case_id}").json())["comment"] and c)
    assert commented["comment"] == comment
    resolve_as_its_owner(koe, case_id, opened["version"])

    # The closing message goes out on the survey's channel: a LINE push, once
    closing = last_from_koe(koe, user, 4)
    assert closing["direction"] == "push" and "対応いたしました" in closing["text"]
    final = eventually(lambda: (c := api(koe, admin, "GET", f"/v1/cases/{case_id}").json())["closing_message"] == "sent"
                       and c)
    assert final, "the closing message was not sent"
    [sent] = [e for e in final["timeline"] if e["kind"] == "closing_sent"]
    assert sent["detail"]["channel"] == "line", sent
    assert koe.texts_to(phone) == [] and len(koe.line_from_koe(user)) == 4

    # The customer blocks koe's account: the next procedure is not surveyed on LINE
    assert koe.line_customer("unfollow", user=user)["app_status"] == 200
    later = japanese_customer(koe, user, phone)
    later["customer"]["id"] = event["customer"]["id"]
    assert koe.post(later).status_code == 202
    decided = eventually(lambda: (s := koe.survey(later["event_id"])) and s["status"] != "sending" and s, timeout=30)
    assert decided, "the later procedure was not decided"
    # (the same person was just surveyed: fatigue may suppress it before the policy is asked; else the
    # policy passes LINE over; either way with its reason, and never on LINE)
    if decided["status"] == "suppressed":
        assert decided["reason"], decided
    else:
        assert (decided["channel"], decided["channel_reason"]) == ("sms_link", "JP:sms_link (line: blocked)")
    assert decided["channel"] != "line" and len(koe.line_from_koe(user)) == 4


def test_a_customer_who_blocked_the_account_is_surveyed_on_the_next_channel_with_the_reason(koe: Koe) -> None:
    user, phone = line_user(), "+819000020162"
    assert koe.line_customer("follow", user=user)["app_status"] == 200
    assert koe.line_customer("unfollow", user=user)["app_status"] == 200      # koe's account blocked
    event = japanese_customer(koe, user, phone)
    assert koe.post(event).status_code == 202

    # Japan's policy after LINE: a link SMS, and the survey says why LINE was passed over
    [sms] = eventually(lambda: koe.invitations(phone), timeout=75)
    assert sms["body"].startswith("Example Lifeです。")
    survey = koe.survey(event["event_id"])
    assert survey is not None
    assert (survey["channel"], survey["channel_reason"]) == ("sms_link", "JP:sms_link (line: blocked)")
    assert koe.line_from_koe(user) == []            # nothing pushed to a customer who blocked the account


# --- China SMS (Alibaba Cloud SMS) ---------------------------------------------------------------------

def chinese_customer(koe: Koe, phone: str, email: str) -> dict[str, Any]:
    return completed_now(koe, "cn", phone=phone, email=email, locale="zh-CN", timezone="Asia/Shanghai")


def china_text(koe: Koe, phone: str, count: int) -> dict[str, Any]:
    """China SMS's `count`-th message to the phone, once it is there."""
    sent = eventually(lambda: len(found := koe.china_texts(phone)) >= count and found)
    assert sent, f"China SMS sent {koe.china_texts(phone)!r}"
    return dict(sent[count - 1])


def emails_to(koe: Koe, address: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{koe.carrier}/emails", params={"to": address}, timeout=10)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def receipt(koe: Koe, kind: str, items: list[dict[str, Any]], token: str = ALIBABA_RECEIPT_TOKEN) -> requests.Response:
    """A receipt push as Alibaba makes it (a JSON array), to koe's route for `kind` (reports, replies)."""
    return requests.post(f"{koe.api}/alibaba/sms/{kind}/{token}", timeout=10,
                         data=json.dumps(items, ensure_ascii=False).encode("utf-8"),
                         headers={"content-type": "application/json; charset=utf-8"})


def test_a_chinese_customer_answers_an_approved_template_sms_on_the_page_and_tui_ding_stops_everything(
        koe: Koe) -> None:
    phone, address = "+8613800138161", "wang.fang@example.com"
    book = local_cn_sms.template_book(f"{koe.api}/s")["zh-CN"]
    event = chinese_customer(koe, phone, address)
    assert koe.post(event).status_code == 202

    # The invitation is the approved template, sent by China SMS with its signature, ending 回T退订;
    # only the token was filled in, where the approved text puts it
    invitation = china_text(koe, phone, 1)
    assert invitation["template_code"] == book["invitation"]["template_code"]
    assert invitation["text"].startswith("【示例人寿】感谢您办理本次业务") and invitation["text"].endswith("回T退订")
    [link] = re.findall(rf"{re.escape(koe.api)}/s/[A-Za-z0-9._~-]+", invitation["text"])
    assert invitation["out_id"] == event["event_id"]
    # Alibaba's delivery report comes back (its receipt push): the survey records the delivery
    delivered = eventually(lambda: (s := koe.survey(event["event_id"])) and s.get("delivery_status") == "delivered"
                           and s)
    assert delivered, koe.survey(event["event_id"])
    assert (delivered["channel"], delivered["channel_reason"]) == ("sms_cn", "CN:sms_cn")
    assert koe.texts_to(phone) == [] and emails_to(koe, address) == []     # nothing by Twilio, no email
    # The report pushed again, and a push to a URL without koe's token: nothing changes
    report = {"phone_number": phone[3:], "send_time": "2026-01-01 09:00:00", "report_time": "2026-01-01 09:00:04",
              "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "2",
              "biz_id": invitation["biz_id"], "out_id": event["event_id"]}
    assert receipt(koe, "reports", [report]).status_code == 200
    assert receipt(koe, "reports", [dict(report, success=False, err_code="UNDELIV")], token="0" * 40).status_code == 403
    assert koe.survey(event["event_id"])["delivery_status"] == "delivered"

    # The customer opens the link: the page in Chinese; answers 3 and why
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and '<html lang="zh-Hans">' in page.text
    comment = "理赔材料说明不清楚，打了好几次电话"
    koe.said.append(comment)            # must never show up in a log
    answered = requests.post(link, data={"score": "3", "comment": comment}, timeout=10)
    assert answered.status_code == 200 and "感谢您的反馈" in answered.text
    assert koe.survey_once(event["event_id"], "answered")["score"] == 3

    # The detractor's case opens; its owner works it; the closing message goes out by China SMS
    admin = token(koe, "cx_admin")
    case_id = event["event_id"]
    opened = eventually(lambda: (r := api(koe, admin, "GET", f"/v1/cases/{case_id}")).status_code == 200 and r.json())
    assert opened, "no case was opened"
    resolve_as_its_owner(koe, case_id, opened["version"])
    closing = china_text(koe, phone, 2)
    assert closing["template_code"] == book["closing"]["template_code"] and closing["text"].endswith("回T退订")
    final = eventually(lambda: (c := api(koe, admin, "GET", f"/v1/cases/{case_id}").json())["closing_message"] == "sent"
                       and c)
    assert final, "the closing message was not sent"
    [sent] = [e for e in final["timeline"] if e["kind"] == "closing_sent"]
    assert sent["detail"]["channel"] == "sms_cn", sent

    # The customer texts 退订 (Alibaba pushes it as a reply receipt): no survey reaches them any more,
    # by China SMS or by email
    assert koe.reply(phone, "退订")["app_status"] == 200
    later = chinese_customer(koe, phone, address)
    later["customer"]["id"] = event["customer"]["id"]
    later["procedure"] = "address_change"
    assert koe.post(later).status_code == 202
    suppressed = koe.survey_once(later["event_id"], "suppressed")
    assert suppressed["reason"] == "opted_out", suppressed
    assert len(koe.china_texts(phone)) == 2 and emails_to(koe, address) == [] and koe.texts_to(phone) == []


def test_the_phone_page_shows_a_mainland_numbers_china_sms_and_sends_its_replies_as_alibaba_receipts(koe: Koe) -> None:
    phone = "+8613800138162"
    event = chinese_customer(koe, phone, "zhao.lei@example.com")
    assert koe.post(event).status_code == 202
    china_text(koe, phone, 1)
    # The phone page's thread of a mainland number: the China SMS, with its delivery report's verdict
    thread = eventually(lambda: (m := requests.get(f"{koe.carrier}/messages", params={"number": phone},
                                                   timeout=10).json()) and m[0]["status"] == "delivered" and m)
    assert thread, "the message was not reported delivered"
    assert [(m["direction"], m["via"]) for m in thread] == [("outbound-api", "Alibaba Cloud SMS")]
    # A reply that is not an opt-out is kept for the CX team; the conversation stays open
    assert koe.reply(phone, "好的")["app_status"] == 200
    thread = requests.get(f"{koe.carrier}/messages", params={"number": phone}, timeout=10).json()
    assert [m["direction"] for m in thread] == ["outbound-api", "inbound"]
    assert koe.survey(event["event_id"])["status"] == "sent"


# --- WeChat (a follower of the service account) ---------------------------------------------------------

def wechat_follower(koe: Koe, openid: str, email: str) -> dict[str, Any]:
    """A customer in China known by the account's openid and an email address, without a phone."""
    return completed_now(koe, "wx", wechat_openid=openid, email=email, locale="zh-CN", timezone="Asia/Shanghai")


def test_a_wechat_follower_answers_the_template_messages_page_and_unfollowing_passes_wechat_over(koe: Koe) -> None:
    openid, address = "oKoe" + uuid.uuid4().hex[:24], "chen.jing@example.com"
    assert koe.wechat_customer("follow", openid=openid)["app_status"] == 200
    event = wechat_follower(koe, openid, address)
    assert koe.post(event).status_code == 202

    # The invitation is the account's template message, its values koe's words, its tap the survey page;
    # WeChat's send-job report comes back as an event push
    invitation = eventually(lambda: (sent := koe.wechat_sent(openid)) and sent[0]["finished"] == "success" and sent[0])
    assert invitation, koe.wechat_sent(openid)
    assert invitation["title"] == "服务评价邀请" and invitation["fields"]["keyword1"] == "理赔付款"
    assert invitation["url"].startswith(f"{koe.api}/s/")
    survey = koe.survey_once(event["event_id"], "sent")
    assert (survey["channel"], survey["channel_reason"]) == ("wechat", "no_phone:wechat")
    assert emails_to(koe, address) == []

    # The page in Chinese; a 4 and why
    assert '<html lang="zh-Hans">' in requests.get(invitation["url"], timeout=10).text
    comment = "等了很久才有人回电话"
    koe.said.append(comment)
    answered = requests.post(invitation["url"], data={"score": "4", "comment": comment}, timeout=10)
    assert answered.status_code == 200 and "感谢您的反馈" in answered.text

    # The detractor's case is worked; the closing message is the account's closing template
    admin, case_id = token(koe, "cx_admin"), event["event_id"]
    opened = eventually(lambda: (r := api(koe, admin, "GET", f"/v1/cases/{case_id}")).status_code == 200 and r.json())
    assert opened, "no case was opened"
    resolve_as_its_owner(koe, case_id, opened["version"])
    closing = eventually(lambda: len(sent := koe.wechat_sent(openid)) >= 2 and sent[1])
    assert closing and closing["title"] == "反馈处理结果通知", koe.wechat_sent(openid)

    # A push not signed with the account's Token is refused
    forged = requests.post(f"{koe.api}/wechat/events?signature=0&timestamp=0&nonce=0", timeout=10,
                           data=b"<xml><MsgType>event</MsgType></xml>", headers={"content-type": "text/xml"})
    assert forged.status_code == 403

    # The customer unfollows the account: the next survey goes by email, saying why not WeChat
    assert koe.wechat_customer("unfollow", openid=openid)["app_status"] == 200
    later = wechat_follower(koe, openid, address)
    later["customer"]["id"] = event["customer"]["id"]
    later["procedure"] = "address_change"
    assert koe.post(later).status_code == 202
    decided = eventually(lambda: (s := koe.survey(later["event_id"])) and s["status"] != "sending" and s, timeout=30)
    assert decided, "the later procedure was not decided"
    assert decided["channel_reason"] == "no_phone:email", decided
    assert len(koe.wechat_sent(openid)) == 2
