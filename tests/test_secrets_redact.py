"""Which keys count as secret, URL passwords and command lines (flowcept_core.redact)."""

from __future__ import annotations

import pytest

from flowcept_core.redact import DEFAULT_REDACTOR, Redactor
from flowcept_core.serialize import ValueLimits, sanitize


@pytest.mark.parametrize("key", ["password", "PASSWD", "db_password", "X-Api-Key", "api-key", "APIKey", "apikey",
                                 "accessToken", "refresh_token", "client_secret", "aws_access_key_id", "privateKey",
                                 "Authorization", "credentials", "mq.signing_key"])
def test_secret_looking_keys_match(key):
    assert DEFAULT_REDACTOR.secret_key(key)


@pytest.mark.parametrize("key", ["max_tokens", "tokenizer", "num_tokens", "passage", "keyboard", "user", "host",
                                 "secret_keys", "redact_secrets", "sample_1", 3, None])
def test_ordinary_keys_do_not_match(key):
    assert not DEFAULT_REDACTOR.secret_key(key)


def test_extra_words_extend_the_defaults():
    r = Redactor(["session_id"])
    assert r.secret_key("X-Session-Id") and r.secret_key("password") and not r.secret_key("session")


def test_values_under_secret_keys_are_masked_at_any_depth_none_and_bools_kept():
    value = {"a": [{"db": {"Password": "pw", "use_token": True, "token": None, "host": "h"}}], "api_key": {"x": 1}}
    assert sanitize(value) == {"a": [{"db": {"Password": "***", "use_token": True, "token": None, "host": "h"}}],
                               "api_key": "***"}
    assert sanitize(value, ValueLimits(redact=None))["api_key"] == {"x": 1}


@pytest.mark.parametrize("text,masked", [
    ("mongodb://u:p@ss@db:27017/x", "mongodb://u:***@db:27017/x"),
    ("see redis://:pw@h:6379/0 and amqp://a:b@c/", "see redis://:***@h:6379/0 and amqp://a:***@c/"),
    ("http://host:8080/path", "http://host:8080/path"),
    ("ssh://git@github.com/x", "ssh://git@github.com/x"),
])
def test_url_passwords_are_masked_in_any_string(text, masked):
    assert DEFAULT_REDACTOR.mask_urls(text) == masked
    assert sanitize({"note": text}) == {"note": masked}


def test_command_lines_mask_secret_options():
    argv = ["app", "--password=x", "--token", "abc", "-v", "--api-key", "--other", "postgres://a:b@h/d", "--Secret=s"]
    assert DEFAULT_REDACTOR.mask_argv(argv) == ["app", "--password=***", "--token", "***", "-v", "--api-key",
                                                "--other", "postgres://a:***@h/d", "--Secret=***"]


def test_a_mistyped_secret_setting_is_not_printed_in_the_error():
    import pytest

    from flowcept_core.settings import SettingsError, validate

    with pytest.raises(SettingsError) as err:
        validate({"mq": {"signing_key": 982451653}})
    assert "982451653" not in str(err.value) and "mq.signing_key = ***" in str(err.value)
