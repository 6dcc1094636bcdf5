"""Configuration: defaults < environment < configure(); bad values name the setting."""

import pytest

from admf_perf import ConfigurationError, configure, get_settings
from admf_perf.config import redact_url, reset_settings, settings_from_env


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch):
    for var in ("ADMF_REDIS_URL", "ADMF_NAMESPACE", "ADMF_EXECUTOR", "ADMF_SIGNING_KEY"):
        monkeypatch.delenv(var, raising=False)
    reset_settings()
    yield
    reset_settings()


def test_defaults_keep_everything_in_process():
    s = get_settings()
    assert s.redis_url is None
    assert s.namespace == "admf"
    assert s.executor == "local"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ADMF_REDIS_URL", "redis://cache.internal:6380/2")
    monkeypatch.setenv("ADMF_NAMESPACE", "research")
    monkeypatch.setenv("ADMF_EXECUTOR", "rq")
    s = get_settings()
    assert (s.redis_url, s.namespace, s.executor) == (
        "redis://cache.internal:6380/2",
        "research",
        "rq",
    )


def test_configure_overrides_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ADMF_NAMESPACE", "fromenv")
    configure(namespace="fromcode")
    assert get_settings().namespace == "fromcode"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"redis_url": "http://localhost:6379"}, "redis_url"),
        ({"redis_url": "redis://:6379"}, "redis_url"),
        ({"redis_url": "redis://localhost:99999"}, "redis_url"),
        ({"redis_url": "unix://"}, "redis_url"),
        ({"executor": "celery"}, "executor"),
        ({"namespace": "has space"}, "namespace"),
        ({"namespace": ""}, "namespace"),
        ({"socket_timeout": -1}, "socket_timeout"),
        ({"retry_after": 0}, "retry_after"),
        ({"signing_key": "short"}, "signing_key"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_configuration_fails_at_once_naming_the_setting(changes, named):
    before = get_settings()
    with pytest.raises(ConfigurationError) as info:
        configure(**changes)
    message = str(info.value)
    assert named in message
    assert "\n" not in message
    assert get_settings() == before, "a rejected configure() must change nothing"


def test_bad_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ADMF_SOCKET_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="ADMF_SOCKET_TIMEOUT"):
        settings_from_env()
    monkeypatch.setenv("ADMF_SOCKET_TIMEOUT", "-3")
    with pytest.raises(ConfigurationError, match="ADMF_SOCKET_TIMEOUT"):
        settings_from_env()


def test_passwords_never_appear_in_errors():
    with pytest.raises(ConfigurationError) as info:
        configure(redis_url="redis://user:s3cret@host:99999/0")
    assert "s3cret" not in str(info.value)
    assert redact_url("rediss://u:pw@h:6380/1") == "rediss://u:***@h:6380/1"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"


def test_signing_key_is_hidden_from_repr():
    configure(signing_key="a-long-enough-signing-key")
    assert get_settings().signing_key == b"a-long-enough-signing-key"
    assert "signing" not in repr(get_settings())
