"""Secrets held in memory, as the Secrets Manager adapter serves them (`SecretSource`): each read
recorded (which use case reads which secret), a cache that keeps the value read until told it aged
(`expire`) or until a read asks for a fresh one, and `rotate` to change a secret as an operator would."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import SecretUnavailable

TWILIO = "koe-test-twilio"
API_KEYS = "koe-test-api-keys"
CONTACT_KEYS = "koe-test-contact-keys"
LINE = "koe-test-line"
ALIBABA_SMS = "koe-test-alibaba-sms"
WECHAT = "koe-test-wechat"
# The settings that name them (resources.SECRETS' variables).
SECRET_ENV = {"KOE_TWILIO_SECRET_ID": TWILIO, "KOE_API_KEYS_SECRET_ID": API_KEYS,
              "KOE_CONTACT_KEYS_SECRET_ID": CONTACT_KEYS, "KOE_LINE_SECRET_ID": LINE,
              "KOE_ALIBABA_SMS_SECRET_ID": ALIBABA_SMS, "KOE_WECHAT_SECRET_ID": WECHAT}


@dataclass
class FakeSecrets:
    stored: dict[str, Any]
    fetched: list[str] = field(default_factory=list)      # every read that reached the store, in order
    _cache: dict[str, Any] = field(default_factory=dict)

    def json(self, secret_id: str, *, fresh: bool = False) -> Any:
        if secret_id in self._cache and not fresh:
            return copy.deepcopy(self._cache[secret_id])
        if secret_id not in self.stored:
            raise SecretUnavailable(f"the secret {secret_id} cannot be read")
        self.fetched.append(secret_id)
        self._cache[secret_id] = copy.deepcopy(self.stored[secret_id])
        return copy.deepcopy(self._cache[secret_id])

    def rotate(self, secret_id: str, value: Any) -> None:
        """The operator's change in Secrets Manager: read once the cached value ages or is skipped."""
        self.stored[secret_id] = value

    def expire(self) -> None:
        """The cache's max age passed."""
        self._cache.clear()
