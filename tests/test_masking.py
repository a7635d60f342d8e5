"""Secret masking (issue 12, item 25): secret names, key-shaped values and passwords inside
strings never reach the wire (the strict fake API on 127.0.0.1), the local store, or our log
(a server that echoes the key in its error)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import honeytrace
from honeytrace._deliver.mask import is_secret_key, needs_scrub, scrub, scrub_message
from honeytrace._deliver.serialize import MASK, to_jsonable
from honeytrace.local.store import Store
from tests.support.fake_api import FakeApi, fake_api_fixture

fake_api = fake_api_fixture

OPENAI = "sk-proj-Abc123def456GHI789jkl012MNO345pqr678"
ANTHROPIC = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_aBcDeF"
HONEYHIVE = "hh_0123456789abcdefABCDEF0123"
AWS = "AKIAIOSFODNN7EXAMPLE"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
DB_PASSWORD = "Tr0ub4dor&3xyz"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9\n-----END RSA PRIVATE KEY-----"
SECRETS = [OPENAI, ANTHROPIC, HONEYHIVE, AWS, JWT, DB_PASSWORD, "MIIEowIBAAKCAQEA7bq9"]
NAMED = "plain-looking-value-42"  # masked by its name only


# -- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "openai_key",
        "anthropic_key",
        "signing_key",
        "encryption_key",
        "private_key_pem",
        "OPENAI_API_KEY",
        "anthropicKey",
        "password_hash",
        "secret_value",
        "api_key",
        "x-api-key",
    ],
)
def test_secret_names_are_masked(name: str) -> None:
    assert is_secret_key(name)
    assert to_jsonable({name: NAMED, "other": 1}) == {name: MASK, "other": 1}


@pytest.mark.parametrize(
    "name",
    ["cache_key", "primary_key", "sort_key", "session_key", "key", "max_tokens", "token_str"],
)
def test_keys_that_name_things_are_kept(name: str) -> None:
    assert not is_secret_key(name)
    assert to_jsonable({name: "kept"}) == {name: "kept"}


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        (OPENAI, "sk-***"),
        (ANTHROPIC, "sk-***"),
        (HONEYHIVE, "hh_***"),
        (AWS, "AKIA***"),
        (JWT, "eyJ***"),
        (PEM, "-----BEGIN RSA PRIVATE KEY-----***"),
        (
            "postgres://app:" + DB_PASSWORD + "@db.internal:5432/orders",
            "postgres://app:***@db.internal:5432/orders",
        ),
        ("redis://:" + DB_PASSWORD + "@localhost:6379/0", "redis://:***@localhost:6379/0"),
        (
            "host=db user=app password=" + DB_PASSWORD + " dbname=x",
            "host=db user=app password=*** dbname=x",
        ),
        ("Server=db;Uid=app;Pwd=" + DB_PASSWORD + ";", "Server=db;Uid=app;Pwd=***;"),
        (f"the key {OPENAI} was refused", "the key sk-*** was refused"),
        ("ghp_" + "a" * 36, "ghp_***"),
    ],
)
def test_secret_values_are_masked_by_their_shape(value: str, masked: str) -> None:
    assert needs_scrub(value)
    assert scrub(value) == masked
    assert to_jsonable({"text": value}) == {"text": masked}  # the fast path hands it over
    assert to_jsonable([value]) == [masked]  # the walker masks it too


@pytest.mark.parametrize(
    "value",
    [
        "https://example.com:8443/path@anchor",
        "mask-0123456789abcdefghij",  # sk- inside a word is not a key
        "task-0123456789abcdefghijklm",
        "re-ranked the top-k results with a cross-encoder",
        "x=1; y=2; token_count=17",
        "AKIA",  # too short to be anything
        "What is the refund policy for orders placed in December?",
    ],
)
def test_ordinary_text_is_kept(value: str) -> None:
    assert scrub(value) == value
    assert to_jsonable({"text": value}) == {"text": value}


def test_a_long_text_is_searched_only_when_it_starts_like_a_secret() -> None:
    prose = "A long answer. " * 100  # over 512 characters: no search (the cost is per char)
    assert scrub(prose + OPENAI) == prose + OPENAI
    assert scrub(OPENAI + " " + prose) == "sk-*** " + prose
    dsn = "postgresql://app:" + DB_PASSWORD + "@db/x?" + "&o=1" * 200
    assert DB_PASSWORD not in scrub(dsn)


def test_an_error_message_and_traceback_are_searched_whole() -> None:
    @honeytrace.trace_tool
    def connect(url: str) -> None:
        raise ConnectionError("could not connect to " + url + " " + "x" * 600)

    with honeytrace.testing.capture() as traces:
        with pytest.raises(ConnectionError):
            connect("postgres://app:" + DB_PASSWORD + "@db/x")
    text = repr(traces.events)
    assert DB_PASSWORD not in text
    assert "postgres://app:***@db/x" in traces.event("connect")["error"]


def test_the_servers_message_is_scrubbed_of_the_key_before_it_is_cut() -> None:
    message = "x" * 490 + " key=corp-key-7f3a9b2c1d and " + OPENAI
    scrubbed = scrub_message(message, "corp-key-7f3a9b2c1d")
    assert "corp-key" not in scrubbed and OPENAI not in scrubbed


# -- the wire, the store, the log ----------------------------------------------------------------


@honeytrace.trace_tool
def call_provider(
    prompt: str, openai_key: str, signing_key: str, private_key_pem: str, dsn: str, note: str
) -> dict[str, Any]:
    return {"session": JWT, "aws": AWS, "echo": prompt}


def _traced_calls() -> None:
    with honeytrace.session("masking") as session:
        call_provider(
            prompt="hello",
            openai_key=NAMED,
            signing_key=NAMED,
            private_key_pem=PEM,
            dsn=f"postgres://app:{DB_PASSWORD}@db.internal/orders",
            note=f"keys {ANTHROPIC} and {HONEYHIVE}",
        )
        session.enrich(metadata={"anthropic_key": ANTHROPIC, "encryption_key": NAMED})


def _assert_no_secret(text: str) -> None:
    for secret in [*SECRETS, NAMED]:
        assert secret not in text, f"{secret[:12]}... reached the output"


def test_secrets_never_reach_the_wire(fake_api: FakeApi) -> None:
    honeytrace.configure(api_key="test-key", server_url=fake_api.url)
    _traced_calls()
    assert honeytrace.flush(10)
    assert fake_api.violations == []
    wire = b"".join(request.body for request in fake_api.requests).decode()
    _assert_no_secret(wire)
    (event,) = fake_api.events.values()
    assert event["inputs"]["openai_key"] == MASK
    assert event["inputs"]["dsn"] == "postgres://app:***@db.internal/orders"
    assert event["inputs"]["note"] == "keys sk-*** and hh_***"
    assert event["outputs"]["result"] == {"session": "eyJ***", "aws": "AKIA***", "echo": "hello"}


def test_secrets_never_reach_the_local_store(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    honeytrace.configure(exporter="local", local_path=str(db))
    _traced_calls()
    assert honeytrace.flush(10)
    honeytrace.shutdown(10)
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir() if path.is_file())
    _assert_no_secret(raw.decode("latin-1"))
    with Store(str(db)) as store:
        (session,) = store.list_sessions(10)
        assert session["name"] == "masking"


def test_a_key_echoed_in_a_servers_error_never_reaches_our_log(
    fake_api: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    key = "corp-key-7f3a9b2c1d"  # not key-shaped: masked because it is the configured one
    honeytrace.configure(api_key=key, server_url=fake_api.url, retry_deadline=2.0)
    echo = {"message": f"invalid key {key}; expected something like {OPENAI}", "success": False}
    fake_api.fail_next(1, status=400, route="events", body=echo)
    fake_api.fail_next(1, status=503, route="events", body=echo)
    with caplog.at_level(logging.DEBUG, logger="honeytrace"):
        _traced_calls()
        honeytrace.flush(10)
    assert "invalid key ***" in caplog.text  # the message is still there, masked
    assert key not in caplog.text
    assert OPENAI not in caplog.text
