"""The local stack's China SMS template book (KOE_CN_SMS_TEMPLATES, domain/cn_sms.TemplateBook): what the
Alibaba SMS stand-in approves and koe sends, in Chinese and English, for a fictional insurer's signature.

As Alibaba approves a link in a template, the survey page's URL is fixed text on the insurer's own
host and only the token is a variable (`<public base URL>/s/${token}`); every text ends with the
unsubscribe words (回T退订). The closing message carries no link. An environment that brings its own
KOE_CN_SMS_TEMPLATES keeps it (as with local_surveys.py).
"""

from __future__ import annotations

import json
from typing import Any

SIGN_NAME = "示例人寿"          # fictional


def template_book(survey_page_url: str) -> dict[str, Any]:
    """The book for a stack whose survey page is at `survey_page_url` (e.g. http://127.0.0.1:8000/s)."""
    link = f"{survey_page_url}/${{token}}"
    texts = {
        "zh-CN": {
            "invitation": (f"感谢您办理本次业务。请花一分钟评价我们的服务：{link} 回T退订", ["token"]),
            "reminder": (f"您对本次服务的评价对我们很重要，欢迎点击评价：{link} 回T退订", ["token"]),
            "closing": ("关于您的反馈，我们已跟进处理完毕。感谢您的耐心。回T退订", []),
        },
        "en-US": {
            "invitation": (f"Thank you for your business. Please rate our service: {link} Reply T to opt out. 回T退订",
                           ["token"]),
            "reminder": (f"Your opinion matters to us. Please rate our service: {link} 回T退订", ["token"]),
            "closing": ("We have followed up on your feedback. Thank you for your patience. 回T退订", []),
        },
    }
    codes = iter(range(480000101, 480000200))
    return {locale: {message: {"sign_name": SIGN_NAME, "template_code": f"SMS_{next(codes)}", "params": params,
                               "text": text}
                     for message, (text, params) in messages.items()}
            for locale, messages in texts.items()}


def settings(survey_page_url: str) -> dict[str, str]:
    """The settings variable the local stack adds for China SMS's approved templates."""
    return {"KOE_CN_SMS_TEMPLATES": json.dumps(template_book(survey_page_url), ensure_ascii=False)}
