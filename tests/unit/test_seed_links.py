"""The seed finds the web-survey links in what koe sent (an SMS, an email's HTML) and reads which
survey each opens with the stack's link keys, as koe does: the link itself names no survey."""

from chalicelib.domain.survey_token import LinkKeys, link_key
from devstack.seed import survey_links

KEYS = LinkKeys("local-1", {"local-1": link_key(b"seed-test-contact-hash-key")})


def test_links_in_a_text_or_html_are_read_with_the_stack_key_and_others_skipped():
    token = KEYS.sign("claim-2026-000123")
    assert token.startswith("local-1.")             # the key id travels with the link
    other = LinkKeys("local-1", {"local-1": link_key(b"another stack")}).sign("claim-2026-000999")
    html = (f'<a href="http://127.0.0.1:8000/s/{token}?score=9">9</a> '
            f'<a href="http://127.0.0.1:8000/s/{other}">x</a> <a href="http://127.0.0.1:8000/s/{token}">open</a>')
    assert survey_links(html, KEYS) == [(f"http://127.0.0.1:8000/s/{token}", "claim-2026-000123", 9),
                                        (f"http://127.0.0.1:8000/s/{token}", "claim-2026-000123", None)]
    assert survey_links(f"How did it go? https://s.example.jp/s/{token}.", KEYS)[0][1] == "claim-2026-000123"
