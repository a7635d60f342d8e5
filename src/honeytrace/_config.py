"""The configuration table: every option with its environment variable, default, parser and doc.

Precedence is ``configure()`` argument > environment variable > default, resolved when
``configure()`` runs or at first use, never at import. A bad value given to ``configure()``
raises :class:`ConfigError` naming the option; a bad value in the environment is logged once and
the default is used, so a typo in a deployment never takes the application down.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["OPTIONS", "Config", "ConfigError", "Option", "resolve"]

logger = logging.getLogger("honeytrace")

Redactor = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the option and the value."""


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
    raise ValueError("expected a boolean (true/false, 1/0, yes/no, on/off)")


def _number(
    kind: type[int] | type[float], low: float, high: float | None = None
) -> Callable[[object], Any]:
    def parse(raw: object) -> int | float:
        if isinstance(raw, bool):
            raise ValueError("expected a number, not a bool")
        if isinstance(raw, str):
            try:
                value: int | float = kind(raw.strip().replace("_", ""))
            except ValueError:
                raise ValueError(
                    f"expected {'an integer' if kind is int else 'a number'}"
                ) from None
        elif isinstance(raw, (int, float)):
            value = kind(raw)
            if kind is int and value != raw:
                raise ValueError("expected an integer")
        else:
            raise ValueError(f"expected a number, got {type(raw).__name__}")
        if math.isnan(value) or value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"between {low} and {high}"
            raise ValueError(f"must be {bounds}")
        return value

    return parse


def _text(raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("expected a non-empty string")
    return raw.strip()


def _optional_text(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError("expected a string")
    return raw.strip() or None


def _url(raw: object) -> str:
    """An ``http://`` or ``https://`` URL with a host and, if any, a valid port. Anything else
    is refused rather than guessed at: a wrong guess would send traces somewhere unnamed."""
    text = _text(raw)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not text[len(scheme) :].startswith("://"):
        raise ValueError(_url_hint(text, "expected an http:// or https:// URL"))
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = parts.hostname
    if any(char.isspace() for char in parts.netloc):
        raise ValueError("the host contains whitespace")
    if not host:
        raise ValueError("no host: expected e.g. http://127.0.0.1:8787")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("the port must be a number between 1 and 65535")
    return text.rstrip("/")


def _url_hint(text: str, problem: str) -> str:
    """``problem``, with the URL the user most likely meant when it can be told."""
    match = re.match(r"(?i)(https?)[:/]+(?=[^:/])", text)
    if match:  # "http//x", "http:/x", "https:x": the scheme is there, mistyped
        rest = text[match.end() :]
        return f"{problem}; did you mean {match.group(1).lower()}://{rest}?"
    if "://" not in text and re.match(r"[\w.\-\[\]:]+(:\d+)?(/.*)?$", text):
        return f"{problem}; did you mean http://{text}?"  # "127.0.0.1:8787", "localhost"
    return problem


def _choice(*choices: str) -> Callable[[object], str]:
    def parse(raw: object) -> str:
        text = _text(raw).lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return parse


def _callable_or_none(raw: object) -> Any:
    if raw is not None and not callable(raw):
        raise ValueError("expected a callable taking the event dict and returning it")
    return raw


_PRICE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "input_audio_mtok",
    "output_audio_mtok",
)


def _price_table(raw: object) -> dict[str, dict[str, Any]] | None:
    """``{model: {"input_mtok": $, "output_mtok": $, ...[, "provider": name]}}`` (US dollars
    per million tokens), or the path of a JSON file holding one."""
    if raw is None:
        return None
    if isinstance(raw, str | os.PathLike):
        try:
            with open(raw, encoding="utf-8") as file:
                raw = json.load(file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read a JSON price table from it: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ValueError("expected {model: {input_mtok: ..., output_mtok: ...}} or a JSON file")
    table: dict[str, dict[str, Any]] = {}
    for model, entry in raw.items():
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"model names must be non-empty strings, got {model!r}")
        if not isinstance(entry, Mapping):
            raise ValueError(f"{model!r}: expected a mapping of prices")
        unknown = sorted(set(entry) - {*_PRICE_KEYS, "provider"})
        if unknown:
            raise ValueError(
                f"{model!r}: unknown key {unknown[0]!r} (known: {', '.join(_PRICE_KEYS)}, provider)"
            )
        for needed in ("input_mtok", "output_mtok"):
            if needed not in entry:
                raise ValueError(f"{model!r}: {needed} (US dollars per million tokens) is required")
        clean: dict[str, Any] = {}
        for key, value in entry.items():
            if key == "provider":
                if not isinstance(value, str) or not value.strip():
                    raise ValueError(f"{model!r}: provider must be a non-empty string")
                clean[key] = value.strip()
                continue
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(f"{model!r}: {key} must be a number >= 0, got {value!r}")
            clean[key] = float(value)
        table[model.strip()] = clean
    return table


@dataclass(frozen=True)
class Option:
    """One row of the configuration table."""

    name: str
    env: str | None
    default: Any
    parse: Callable[[object], Any]
    doc: str


OPTIONS: tuple[Option, ...] = (
    Option("api_key", "HH_API_KEY", None, _optional_text, "HoneyHive API key (Bearer token)."),
    Option("server_url", "HH_API_URL", "https://api.honeyhive.ai", _url, "API base URL."),
    Option("source", "HH_SOURCE", "dev", _text, "The `source` of every event (environment)."),
    Option(
        "exporter",
        "HONEYTRACE_EXPORTER",
        None,
        _choice("http", "local", "memory", "none"),
        "Where events go; default `http` with a key or HH_API_URL, else `local`.",
    ),
    Option(
        "local_path",
        "HONEYTRACE_LOCAL_PATH",
        ".honeytrace/traces.db",
        _text,
        "SQLite file of the local exporter.",
    ),
    Option(
        "enabled",
        "HONEYTRACE_ENABLED",
        True,
        _parse_bool,
        "False: decorators pass through. Unless configure(enabled=...) was given, the variable"
        " is read at every call outside a session, through os.environ.",
    ),
    Option("capture_inputs", "HONEYTRACE_CAPTURE_INPUTS", True, _parse_bool, "Record arguments."),
    Option("capture_outputs", "HONEYTRACE_CAPTURE_OUTPUTS", True, _parse_bool, "Record results."),
    Option(
        "flush_interval",
        "HONEYTRACE_FLUSH_INTERVAL",
        1.0,
        _number(float, 0.001, 3600),
        "Seconds between flusher wake-ups.",
    ),
    Option(
        "batch_size",
        "HONEYTRACE_BATCH_SIZE",
        500,
        _number(int, 1, 100_000),
        "Events per batch request; also wakes the flusher early.",
    ),
    Option(
        "max_batch_bytes",
        "HONEYTRACE_MAX_BATCH_BYTES",
        4 * 1024 * 1024,
        _number(int, 16 * 1024),
        "Upper bound on one batch request body.",
    ),
    Option(
        "max_queue",
        "HONEYTRACE_MAX_QUEUE",
        100_000,
        _number(int, 1),
        "Events held in memory at most; beyond, they are counted as dropped (or spooled).",
    ),
    Option(
        "max_queue_bytes",
        "HONEYTRACE_MAX_QUEUE_BYTES",
        64 * 1024 * 1024,
        _number(int, 1024),
        "Estimated bytes of pending events at most; beyond, counted as dropped (`queue_bytes`).",
    ),
    Option(
        "sample_rate",
        "HONEYTRACE_SAMPLE_RATE",
        1.0,
        _number(float, 0.0, 1.0),
        "Fraction of sessions kept (whole sessions).",
    ),
    Option(
        "propagate_threads",
        "HONEYTRACE_PROPAGATE_THREADS",
        True,
        _parse_bool,
        "ThreadPoolExecutor.submit carries the current event into the worker.",
    ),
    Option("redact", None, None, _callable_or_none, "fn(event dict) -> event dict, in flusher."),
    Option(
        "mask_secrets",
        "HONEYTRACE_MASK_SECRETS",
        True,
        _parse_bool,
        "Mask values under keys like api_key/password/token/secret/authorization.",
    ),
    Option(
        "timeout",
        "HONEYTRACE_TIMEOUT",
        10.0,
        _number(float, 0.01, 600),
        "Seconds for one HTTP request.",
    ),
    Option(
        "retry_deadline",
        "HONEYTRACE_RETRY_DEADLINE",
        30.0,
        _number(float, 0.0, 86_400),
        "Seconds one request may be retried before its events are dropped or spooled.",
    ),
    Option(
        "exit_timeout",
        "HONEYTRACE_EXIT_TIMEOUT",
        5.0,
        _number(float, 0.0, 600),
        "Seconds the interpreter exit may spend delivering what is pending.",
    ),
    Option("verify_tls", "HONEYTRACE_VERIFY_TLS", True, _parse_bool, "Verify TLS certificates."),
    Option(
        "spool_dir",
        "HONEYTRACE_SPOOL_DIR",
        None,
        _optional_text,
        "Directory where undeliverable batches wait on disk for the server.",
    ),
    Option(
        "max_spool_bytes",
        "HONEYTRACE_MAX_SPOOL_BYTES",
        256 * 1024 * 1024,
        _number(int, 1024),
        "Upper bound on the spool's size on disk.",
    ),
    Option(
        "spool_max_age",
        "HONEYTRACE_SPOOL_MAX_AGE",
        7 * 24 * 3600.0,
        _number(float, 1.0),
        "Seconds a spooled request may wait; older ones are dropped (spool_expired).",
    ),
    Option(
        "spool_max_attempts",
        "HONEYTRACE_SPOOL_MAX_ATTEMPTS",
        10,
        _number(int, 1),
        "Times a working server may refuse a spooled request before it is dropped.",
    ),
    Option("otel", "HONEYTRACE_OTEL", False, _parse_bool, "Mirror every event as an OTel span."),
    Option(
        "prices",
        "HONEYTRACE_PRICES",
        None,
        _price_table,
        "Your price table (US dollars per million tokens, or a JSON file); wins over genai-prices.",
    ),
)

_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class Config:
    """The resolved configuration; built by :func:`resolve`, never mutated."""

    api_key: str | None
    server_url: str
    source: str
    exporter: str
    local_path: str
    enabled: bool
    capture_inputs: bool
    capture_outputs: bool
    flush_interval: float
    batch_size: int
    max_batch_bytes: int
    max_queue: int
    max_queue_bytes: int
    sample_rate: float
    propagate_threads: bool
    redact: Redactor | None
    mask_secrets: bool
    timeout: float
    retry_deadline: float
    exit_timeout: float
    verify_tls: bool
    spool_dir: str | None
    max_spool_bytes: int
    spool_max_age: float
    spool_max_attempts: int
    otel: bool
    prices: dict[str, dict[str, Any]] | None = None
    explicit: frozenset[str] = frozenset()
    # A malformed HH_API_URL sent the events to the local store; the error line said where.
    url_refused: bool = False

    def __repr__(self) -> str:
        # The key must never reach a log line, a traceback or an error message.
        fields = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "api_key" and value is not None:
                value = "***"
            fields.append(f"{field.name}={value!r}")
        return f"Config({', '.join(fields)})"


_warned_env: set[tuple[str, str]] = set()


def resolve(overrides: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Build a :class:`Config` from ``configure()`` arguments, the environment and defaults.

    Raises :class:`ConfigError` for an unknown option or a bad argument; a bad environment
    value is logged (once) and replaced by the default.
    """
    env = os.environ if environ is None else environ
    unknown = sorted(set(overrides) - set(_BY_NAME))
    if unknown:
        known = ", ".join(sorted(_BY_NAME))
        raise ConfigError(f"unknown option {unknown[0]!r} (known options: {known})")
    values: dict[str, Any] = {}
    bad_url: tuple[str, str] | None = None  # a malformed HH_API_URL and what is wrong with it
    for option in OPTIONS:
        if option.name in overrides:
            raw = overrides[option.name]
            if raw is None and option.default is not None:
                values[option.name] = option.default
                continue
            try:
                values[option.name] = option.parse(raw) if raw is not None else None
            except ValueError as exc:
                shown = "***" if option.name == "api_key" else repr(raw)
                raise ConfigError(f"invalid {option.name}={shown}: {exc}") from None
            continue
        if option.name == "server_url":
            values[option.name], bad_url = _url_from_env(option, env)
            continue
        values[option.name] = _from_env(option, env)
    if values["exporter"] is None:
        has_url = "server_url" in overrides or bool(env.get("HH_API_URL"))
        values["exporter"] = "http" if values["api_key"] or has_url else "local"
    refused = bad_url is not None and _refuse_env_url(values, *bad_url)
    return Config(**values, explicit=frozenset(overrides), url_refused=refused)


def _url_from_env(option: Option, env: Mapping[str, str]) -> tuple[str, tuple[str, str] | None]:
    """``HH_API_URL`` parsed, or the default with the raw value and what is wrong with it."""
    assert option.env is not None
    raw = env.get(option.env)
    if raw is None or raw.strip() == "":
        return option.default, None
    try:
        return option.parse(raw), None
    except ValueError as exc:
        return option.default, (raw, str(exc))


def _refuse_env_url(values: dict[str, Any], raw: str, problem: str) -> bool:
    """A malformed ``HH_API_URL`` names no destination: sending to the default (the public
    cloud) would ship the traces somewhere the user never named, so they go to the local store
    instead, and one error line says so and where. True when the exporter was changed."""
    refused: bool = values["exporter"] == "http"
    if refused:
        values["exporter"] = "local"
        where = os.path.abspath(values["local_path"])
        message = (
            f"honeytrace: HH_API_URL={raw!r} is not a usable URL ({problem}). Nothing is sent "
            f"over the network: traces are saved to the local store {where} instead "
            "(see them with `honeytrace show latest`)."
        )
    else:
        message = (
            f"honeytrace: ignoring HH_API_URL={raw!r} ({problem}); the "
            f"{values['exporter']} exporter does not use it."
        )
    key = ("HH_API_URL", raw)
    if key not in _warned_env:
        _warned_env.add(key)
        logger.error("%s", message)
    return refused


def _from_env(option: Option, env: Mapping[str, str]) -> Any:
    if option.env is None:
        return option.default
    raw = env.get(option.env)
    if raw is None or raw.strip() == "":
        return option.default
    try:
        return option.parse(raw)
    except ValueError as exc:
        key = (option.env, raw)
        if key not in _warned_env:
            _warned_env.add(key)
            shown = "***" if option.name == "api_key" else repr(raw)
            logger.warning(
                "honeytrace: ignoring %s=%s (%s); using the default %r",
                option.env,
                shown,
                exc,
                option.default,
            )
        return option.default


def env_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Parse ``HONEYTRACE_ENABLED`` now. The runtime calls this only when the variable's raw
    value changed (``_runtime.enabled_at_root`` watches it with one dict lookup per call)."""
    return bool(_from_env(_BY_NAME["enabled"], os.environ if environ is None else environ))
