"""GET and POST /wechat/events: the WeChat service account's server check and event pushes, signed with
the account's Token as WeChat signs them (sha1 over the Token, timestamp and nonce), through Chalice's
local gateway. Fictional openids and Token."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.wechat import signature
from tests.functional.conftest import ENV, WECHAT_TOKEN, Koe, fake_components, serving

OPENID = "oKoeFunctional0123456789abcd"
ACCOUNT = "gh_0123456789ab"


def signed_query(koe: Koe, token: str = WECHAT_TOKEN, *, age_s: int = 0, **extra: str) -> str:
    timestamp, nonce = str(int(koe.clock().timestamp()) - age_s), "1405290110"
    return urlencode({"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                      **extra})


def push(koe: Koe, body: str, query: str) -> Any:
    return koe.client.http.post(f"/wechat/events?{query}", headers={"content-type": "text/xml"},
                                body=body.encode("utf-8"))


def event_xml(koe: Koe, event: str) -> str:
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>"
            f"<CreateTime>{int(koe.clock().timestamp())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event></xml>")


def test_the_consoles_server_check_gets_its_echostr_back_when_signed(koe):
    answer = koe.client.http.get(f"/wechat/events?{signed_query(koe, echostr='4350001185287316')}")
    assert answer.status_code == 200 and answer.body == b"4350001185287316"
    assert answer.headers["Content-Type"].startswith("text/plain")


def test_an_unsubscribe_push_opts_the_openid_out_and_answers_success(koe):
    answer = push(koe, event_xml(koe, "unsubscribe"), signed_query(koe))
    assert answer.status_code == 200 and answer.body == b"success"
    contact = koe.contact(OPENID)
    assert contact is not None and contact.opted_out


FORGED = {"another token": {"token": "notTheAccountsToken"}, "ten minutes old": {"age_s": 600}}


@pytest.mark.parametrize("how", FORGED.values(), ids=FORGED.keys())
def test_a_push_not_signed_with_the_token_or_stale_is_refused_and_changes_nothing(koe, how):
    answer = push(koe, event_xml(koe, "unsubscribe"), signed_query(koe, **how))
    assert answer.status_code == 403
    assert koe.contact(OPENID) is None


def test_a_signed_body_that_is_not_wechats_xml_is_a_named_400(koe):
    answer = push(koe, "<!DOCTYPE x [<!ENTITY e 'x'>]><xml>&e;</xml>", signed_query(koe))
    assert answer.status_code == 400 and "DOCTYPE" in answer.json_body["error"]


def test_where_wechat_is_off_every_push_is_refused():
    env = {k: v for k, v in ENV.items() if k != "KOE_WECHAT_SECRET_ID"}
    with serving(fake_components(env)) as koe:
        assert push(koe, event_xml(koe, "unsubscribe"), signed_query(koe)).status_code == 403
        assert koe.client.http.get(f"/wechat/events?{signed_query(koe, echostr='1')}").status_code == 403
