"""Shared fixtures: AWS environment variables that can never reach a real account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("V6MIGRATE_MAX_ATTEMPTS", "2")
    from v6migrate import aws

    aws.settings.cache_clear()
    yield
    aws.settings.cache_clear()
