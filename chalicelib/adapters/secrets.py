"""Secrets Manager through Powertools parameters (`SecretsProvider`): each secret read when first
needed and cached for KOE_SECRETS_MAX_AGE_SECONDS, so a rotated value is read without a redeploy;
`fresh=True` skips the cache (a webhook signature that does not match the cached token)."""

from __future__ import annotations

from typing import Any

from chalicelib.errors import SecretUnavailable, SettingsError


class SecretsManagerSource:
    def __init__(self, client: Any, max_age_s: int):
        self._client = client
        self._provider: Any = None         # built at the first read: Powertools' provider sets up the client
        self._max_age = max_age_s

    def json(self, secret_id: str, *, fresh: bool = False) -> Any:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

        if self._provider is None:
            self._provider = SecretsProvider(boto3_client=self._client)
        try:
            return self._provider.get(secret_id, max_age=self._max_age, transform="json", force_fetch=fresh)
        except TransformParameterError as exc:        # its message never holds the value, but say less
            raise SettingsError(f"the secret {secret_id} is not JSON") from exc
        except GetParameterError as exc:
            raise SecretUnavailable(f"the secret {secret_id} cannot be read") from exc
