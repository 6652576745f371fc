"""koe's secrets, read when first needed (never at import, never from the environment): the settings
carry each secret's id (KOE_*_SECRET_ID), `SecretSource` reads its JSON (Secrets Manager through
Powertools parameters, cached for KOE_SECRETS_MAX_AGE_SECONDS: a rotated value is picked up without
a redeploy), and this module reads each shape:

- Twilio (KOE_TWILIO_SECRET_ID): {"account_sid", "auth_token", "from", "previous_auth_token"?}
- API keys (KOE_API_KEYS_SECRET_ID): {"keys": ["...", ...]}
- contact keys (KOE_CONTACT_KEYS_SECRET_ID): {"current": "<kid>", "keys": {"<kid>": "...", ...}}
- LINE (KOE_LINE_SECRET_ID, where LINE is on): {"channel_access_token", "channel_secret"}
- Alibaba Cloud SMS (KOE_ALIBABA_SMS_SECRET_ID, where China SMS is on):
  {"access_key_id", "access_key_secret", "receipt_token"}

One secret per concern, so each function is granted only the secrets its handlers use
(chalicelib/resources.py SECRETS). A malformed secret is a SettingsError naming the secret and the
field, never a value; one that cannot be read is SecretUnavailable (retried, 503)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib import resources
from chalicelib.domain.identity import InvalidKeyring, Keyring, parse_keyring
from chalicelib.errors import SettingsError


class SecretSource(Protocol):
    def json(self, secret_id: str, *, fresh: bool = False) -> Any:
        """The secret's JSON value, from the cache unless it is older than its max age or `fresh`."""


@dataclass(frozen=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str = field(repr=False)
    sender: str                                   # E.164 number or a Messaging Service SID (MG...)
    previous_auth_token: str | None = field(default=None, repr=False)   # during a token rotation

    @property
    def auth_tokens(self) -> tuple[str, ...]:
        """The tokens a webhook may be signed with: the current one first."""
        return (self.auth_token, *((self.previous_auth_token,) if self.previous_auth_token else ()))


@dataclass(frozen=True)
class LineCredentials:
    channel_access_token: str = field(repr=False)     # Bearer token of the Messaging API
    channel_secret: str = field(repr=False)           # signs the webhooks (x-line-signature)


@dataclass(frozen=True)
class AlibabaSmsCredentials:
    access_key_id: str                                # LTAI...: names the key, not secret on its own
    access_key_secret: str = field(repr=False)        # signs SendSms
    receipt_token: str = field(repr=False)            # the last part of the receipt URLs (Alibaba signs no push)


@dataclass(frozen=True)
class WeChatCredentials:
    appid: str                                        # wx...: names the service account, not secret on its own
    appsecret: str = field(repr=False)                # fetches the access token
    token: str = field(repr=False)                    # signs the event pushes (sha1 over token, timestamp, nonce)


RECEIPT_TOKEN_MIN_CHARS = 32


class Credentials:
    """Each secret read on use (through the source's cache): nothing is kept here, so a rotated
    value reaches every caller once the cache's max age has passed (or at once with `fresh`)."""

    def __init__(self, source: SecretSource, secret_ids: dict[str, str | None]):
        self._source = source
        self._ids = secret_ids                    # resources.Secret.name -> its id, from the settings

    def twilio(self, *, fresh: bool = False) -> TwilioCredentials:
        secret = resources.TWILIO_SECRET
        value = self._read(secret, fresh)
        account_sid, auth_token, sender = (_text(value, secret, name) for name in ("account_sid", "auth_token", "from"))
        previous = value.get("previous_auth_token")
        if previous is not None and (not isinstance(previous, str) or not previous.strip()):
            raise _malformed(secret, "previous_auth_token is a non-empty string when present")
        return TwilioCredentials(account_sid, auth_token, sender, previous.strip() if previous else None)

    def line(self, *, fresh: bool = False) -> LineCredentials:
        secret = resources.LINE_SECRET
        value = self._read(secret, fresh)
        return LineCredentials(*(_text(value, secret, name) for name in ("channel_access_token", "channel_secret")))

    def alibaba_sms(self, *, fresh: bool = False) -> AlibabaSmsCredentials:
        secret = resources.ALIBABA_SMS_SECRET
        value = self._read(secret, fresh)
        found = AlibabaSmsCredentials(*(_text(value, secret, name) for name in secret.fields))
        if len(found.receipt_token) < RECEIPT_TOKEN_MIN_CHARS or not found.receipt_token.isalnum():
            raise _malformed(secret, f"receipt_token is at least {RECEIPT_TOKEN_MIN_CHARS} letters and digits")
        return found

    def wechat(self, *, fresh: bool = False) -> WeChatCredentials:
        secret = resources.WECHAT_SECRET
        value = self._read(secret, fresh)
        found = WeChatCredentials(*(_text(value, secret, name) for name in secret.fields))
        if not (3 <= len(found.token) <= 32 and found.token.isalnum()):
            raise _malformed(secret, "token is 3 to 32 letters and digits (WeChat's rule for the server Token)")
        return found

    def api_keys(self) -> tuple[str, ...]:
        secret = resources.API_KEYS_SECRET
        keys = self._read(secret, False).get("keys")
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and len(k.strip()) >= 16 for k in keys):
            raise _malformed(secret, "keys is a list of API keys, each at least 16 characters")
        return tuple(k.strip() for k in keys)

    def contact_keyring(self) -> Keyring:
        secret = resources.CONTACT_KEYS_SECRET
        try:
            return parse_keyring(self._read(secret, False))
        except InvalidKeyring as exc:
            raise _malformed(secret, str(exc)) from exc

    def _read(self, secret: resources.Secret, fresh: bool) -> dict[str, Any]:
        secret_id = self._ids.get(secret.name)
        if not secret_id:
            raise SettingsError(f"{secret.env} is required to {secret.purpose}")
        value = self._source.json(secret_id, fresh=fresh)
        if not isinstance(value, dict):
            raise _malformed(secret, "the secret is a JSON object")
        return value


def _text(value: dict[str, Any], secret: resources.Secret, name: str) -> str:
    found = value.get(name)
    if not isinstance(found, str) or not found.strip():
        raise _malformed(secret, f"{name} is required")
    return found.strip()


def _malformed(secret: resources.Secret, why: str) -> SettingsError:
    return SettingsError(f"the {secret.name} secret ({secret.env}): {why}; e.g. {secret.example}")
