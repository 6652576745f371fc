"""The seed finds the web-survey links in what koe sent (an SMS, an email's HTML) and reads which
survey each opens with the stack's link key, as koe does: the link itself names no survey."""

from chalicelib.domain.survey_token import link_key, sign
from devstack.seed import survey_links

KEY = link_key(b"seed-test-contact-hash-key")


def test_links_in_a_text_or_html_are_read_with_the_stack_key_and_others_skipped():
    token = sign(KEY, "claim-2026-000123")
    other = sign(link_key(b"another stack"), "claim-2026-000999")
    html = (f'<a href="http://127.0.0.1:8000/s/{token}?score=9">9</a> '
            f'<a href="http://127.0.0.1:8000/s/{other}">x</a> <a href="http://127.0.0.1:8000/s/{token}">open</a>')
    assert survey_links(html, KEY) == [(f"http://127.0.0.1:8000/s/{token}", "claim-2026-000123", 9),
                                       (f"http://127.0.0.1:8000/s/{token}", "claim-2026-000123", None)]
    assert survey_links(f"How did it go? https://s.example.jp/s/{token}", KEY)[0][1] == "claim-2026-000123"
