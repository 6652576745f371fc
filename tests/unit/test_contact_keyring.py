"""The versioned contact-hash key: new records and links use the current version; what was written
under an older listed version is still found; a removed version's links are refused by name."""

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.identity import InvalidKeyring, contact_key, merged, parse_keyring
from chalicelib.domain.model import Contact
from chalicelib.domain.survey_token import LinkKeys, TamperedToken, UnknownKeyId, link_key, sign

OLD, NEW = "o" * 64, "n" * 64
BEFORE = parse_keyring({"current": "2026-06", "keys": {"2026-06": OLD}})
AFTER = parse_keyring({"current": "2027-01", "keys": {"2027-01": NEW, "2026-06": OLD}})
DROPPED = parse_keyring({"current": "2027-01", "keys": {"2027-01": NEW}})
PHONE = "+15550100123"
NOW = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


def test_the_current_version_keys_new_records_and_every_listed_version_is_read_current_first():
    assert AFTER.contact_key(PHONE) == contact_key(NEW.encode(), PHONE)
    assert AFTER.contact_keys(PHONE) == (contact_key(NEW.encode(), PHONE), contact_key(OLD.encode(), PHONE))


def test_the_first_version_keys_contacts_as_the_unversioned_key_did():
    # Given the key koe used before versions, listed as the first version: the same records
    assert BEFORE.contact_key(PHONE) == contact_key(OLD.encode(), PHONE)


@pytest.mark.parametrize("document, named", [
    ({"keys": {"a": NEW}}, "takes current and keys"),
    ({"current": "b", "keys": {"a": NEW}}, "current must name one of the keys"),
    ({"current": "a", "keys": {"a": "short"}}, "keys.a must be a string of at least 32"),
    ({"current": "a.b", "keys": {"a.b": NEW}}, "key id 'a.b'"),
    ({"current": "a", "keys": {}}, "keys maps each key id"),
    ("not an object", "takes current and keys"),
])
def test_a_malformed_keyring_is_refused_by_name_without_showing_a_key(document, named):
    with pytest.raises(InvalidKeyring, match=named) as refused:
        parse_keyring(document)
    assert NEW not in str(refused.value)


def test_an_old_link_keeps_opening_after_a_rotation_while_its_key_is_listed():
    token = LinkKeys.of(BEFORE).sign("claims-2026-000123")
    assert token.startswith("2026-06.")
    assert LinkKeys.of(AFTER).verify(token) == "claims-2026-000123"
    assert LinkKeys.of(AFTER).sign("claims-2026-000123").startswith("2027-01.")


def test_a_link_whose_key_was_removed_or_never_listed_is_an_unknown_key_id():
    token = LinkKeys.of(BEFORE).sign("claims-2026-000123")
    with pytest.raises(UnknownKeyId):
        LinkKeys.of(DROPPED).verify(token)
    with pytest.raises(UnknownKeyId):
        LinkKeys.of(AFTER).verify("nope." + token.split(".", 1)[1])


def test_a_link_made_before_versions_opens_under_any_listed_key_and_not_after_its_key_is_gone():
    legacy = sign(link_key(OLD.encode()), "claims-2026-000123")
    assert LinkKeys.of(AFTER).verify(legacy) == "claims-2026-000123"
    with pytest.raises(TamperedToken):
        LinkKeys.of(DROPPED).verify(legacy)


def test_a_changed_key_id_does_not_open_a_link_under_another_listed_key():
    body = LinkKeys.of(BEFORE).sign("claims-2026-000123").split(".", 1)[1]
    with pytest.raises(TamperedToken):
        LinkKeys.of(AFTER).verify("2027-01." + body)


def test_an_opt_out_under_an_older_version_suppresses_and_the_current_record_keeps_its_history_version():
    current = Contact("new", surveyed=(("claim", NOW - timedelta(days=3)),), history_version=4)
    older = Contact("old", opted_out=True, surveyed=(("loan", NOW - timedelta(days=20)),))
    found = merged("new", [current, older])
    assert found is not None and found.opted_out and found.contact_key == "new" and found.history_version == 4
    assert [p for p, _ in found.surveyed] == ["loan", "claim"]


def test_a_conversation_opened_before_the_rotation_is_still_the_open_one():
    older = Contact("old", active_survey_id="claims-1", active_until=NOW + timedelta(hours=5))
    found = merged("new", [None, older])
    assert found is not None and found.contact_key == "new" and found.has_open_conversation(NOW)
    assert found.active_survey_id == "claims-1" and found.history_version == 0


def test_without_older_records_the_current_one_is_the_contact():
    current = Contact("new", opted_out=False)
    assert merged("new", [current, None]) is current
    assert merged("new", [None, None]) is None
