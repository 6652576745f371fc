"""The configuration document (resources.CONFIG_DOCUMENT): the settings that can outgrow Lambda's
4 KB of environment variables, as one JSON object in a versioned S3 bucket, read at run time.

Why S3 and not AWS AppConfig or SSM: moto (the local stack's AWS) serves no `appconfigdata`
(GetLatestConfiguration), so the local stack could not read the document as AWS does; an SSM
parameter holds 4 KB (standard tier) or 8 KB (advanced), no more than the environment it replaces
(AWS Systems Manager quotas). An S3 object holds up to 5 GB in one PUT (Amazon S3 user guide,
"Uploading objects"): room for a nation's routing table. The bucket is versioned, so every change
is kept and can be rolled back by copying an older version over the current one.

Read through a Powertools parameters provider (`S3DocumentProvider`, the custom-provider pattern of
Powertools' documentation): cached for KOE_CONFIG_MAX_AGE_SECONDS; after that one conditional GET
(If-None-Match: the ETag last read) that costs no download when nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import SecretUnavailable, SettingsError


@dataclass(frozen=True)
class Document:
    version: str                   # the S3 object's VersionId (its ETag where versioning is off)
    values: Mapping[str, Any]      # settings variable -> its JSON value


class ConfigUnavailable(SecretUnavailable):
    """The configuration document could not be read (S3 unreachable, throttled, missing, not granted)."""


class S3Document:
    """Reads s3://bucket/key through the provider's cache; `location` names it in errors."""

    def __init__(self, client: Any, bucket: str, key: str, max_age_s: int):
        from aws_lambda_powertools.utilities.parameters.base import BaseProvider

        class S3DocumentProvider(BaseProvider):
            """A Powertools parameters provider for one S3 object: its text and version."""

            def __init__(self) -> None:
                super().__init__(client=client)   # type: ignore[no-untyped-call]  # Powertools leaves it untyped
                self._last: tuple[str, dict[str, str]] | None = None     # (ETag, what it held)

            def _get(self, name: str, **sdk_options: Any) -> dict[str, str]:
                from botocore.exceptions import ClientError

                request: dict[str, Any] = {"Bucket": bucket, "Key": key}
                if self._last is not None:
                    request["IfNoneMatch"] = self._last[0]
                try:
                    found = client.get_object(**request)
                except ClientError as exc:
                    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                    if self._last is not None and (status == 304 or exc.response["Error"].get("Code") == "304"):
                        return self._last[1]           # unchanged since it was last read
                    raise
                read = {"text": found["Body"].read().decode("utf-8"),
                        "version": str(found.get("VersionId") or found["ETag"].strip('"'))}
                self._last = (found["ETag"], read)
                return read

            def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, Any]:
                raise NotImplementedError

        self._provider = S3DocumentProvider()
        self._max_age = max_age_s
        self.location = f"s3://{bucket}/{key}"

    def read(self) -> Document:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            found = self._provider.get(self.location, max_age=self._max_age)
        except GetParameterError as exc:
            raise ConfigUnavailable(f"the configuration document {self.location} cannot be read") from exc
        assert isinstance(found, dict)
        return Document(found["version"], parse(found["text"], f"{self.location} (version {found['version']})"))


def parse(text: str, where: str) -> dict[str, Any]:
    """The document's values; SettingsError naming `where` (and the key, for a key no setting has)."""
    from chalicelib import resources

    try:
        values = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"the configuration document {where} is not JSON: {exc.args[0] if exc.args else ''}"
                            ) from exc
    if not isinstance(values, dict):
        raise SettingsError(f"the configuration document {where} must be a JSON object of settings, "
                            f'e.g. {{"KOE_CASE_ROUTING": {{"central": {{"queue": "cx"}}}}}}')
    unknown = sorted(set(values) - set(resources.CONFIG_DOCUMENT.fields))
    if unknown:
        raise SettingsError(f"the configuration document {where}: {', '.join(unknown)} is not a setting it carries "
                            f"(it carries {', '.join(resources.CONFIG_DOCUMENT.fields)})")
    return values


_readers: dict[tuple[str, str], S3Document] = {}


def for_settings(settings: Any) -> S3Document:
    """The process's reader of the settings' document (one cache per bucket and key), on an S3 client
    of its own: settings are read before the composition root exists (chalicelib/bootstrap)."""
    bucket, key = settings.config_bucket, settings.config_key
    if (bucket, key) not in _readers:
        from botocore.config import Config

        from chalicelib.adapters.aws_sessions import boto3_session

        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)
        client = boto3_session().client("s3", region_name=settings.region, endpoint_url=settings.aws_endpoint,
                                        config=config)
        _readers[(bucket, key)] = S3Document(client, bucket, key, settings.config_max_age_seconds)
    return _readers[(bucket, key)]
