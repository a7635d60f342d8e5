"""What secret masking recognises: secret names (:func:`is_secret_key`) and secret values inside
strings (:func:`scrub`), and the scrubbing of server messages before they are logged
(:func:`scrub_message`).

It runs on the flusher only (the serializer calls it), and is kept cheap: the name decision is
cached per key string; a string of up to :data:`SCAN_ALL` characters (arguments, ids, settings,
connection strings, short messages) is searched whole by one compiled pattern whose every branch
starts at a rare character, so the engine skips ordinary text in C. A longer string (a document,
an LLM answer) is searched only when it starts like a secret (a key prefix, a PEM header) or
has ``://`` in its first 40 characters (a URL): a regular expression over every long text
would cost more than encoding it (a 16 KiB document: 20 us -> 350 us per event). Error messages
and tracebacks are searched whole whatever their length (errors are rare).

Values masked (what stays tells what was there):

- API keys by their shape: ``sk-...`` (OpenAI, Anthropic ``sk-ant-...``), ``hh_...``
  (HoneyHive), ``AKIA``/``ASIA...`` (AWS), ``ghp_``/``github_pat_...`` (GitHub), ``xox?-...``
  (Slack), ``AIza...`` (Google), ``hf_...`` (Hugging Face), ``sk_live_``/``rk_live_`` (Stripe):
  the prefix stays, the rest becomes ``***`` (``sk-***``);
- JSON Web Tokens (``eyJ...`` three base64url parts, the second one JSON too): ``eyJ***``;
- PEM private key blocks: ``-----BEGIN PRIVATE KEY-----***``;
- passwords in URLs (``postgres://user:***@host/db``) and in ``password=`` / ``pwd=`` pairs of
  connection strings (``host=db password=*** user=u``).
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "KEY_PREFIXES",
    "MASK",
    "MIN_SECRET",
    "SCAN_ALL",
    "find_secret",
    "is_secret_key",
    "needs_scrub",
    "plausible",
    "scrub",
    "scrub_message",
    "secret_tail",
]

MASK: str = "***"
MIN_SECRET = 12
"""Shorter strings hold no secret this module recognises: not searched."""
SCAN_ALL = 512
"""Strings up to this length are searched whole; longer ones only when :func:`plausible`."""
# How a string that is (or starts with) a secret begins.
KEY_PREFIXES = (
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "hh_",
    "hf_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "ghr_",
    "github_pat_",
    "xox",
    "eyJ",
    "AKIA",
    "ASIA",
    "AIza",
    "-----BEGIN",
)
_FIRST = "".join(sorted({prefix[0] for prefix in KEY_PREFIXES}))

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")  # digits are dropped: password2 -> password
_SECRET_WORDS = frozenset(
    {"password", "passwords", "passwd", "pwd", "passphrase", "secret", "secrets", "token"}
    | {"authorization", "auth", "cookie", "cookies", "credential", "credentials", "apikey"}
)
# <owner>_key is a secret for these owners; other keys (cache_key, sort_key, primary_key,
# partition_key, session_key, s3_key...) are names of things, not secrets.
_SECRET_KEY_OWNERS = frozenset(
    {"api", "secret", "private", "access", "signing", "sign", "encryption", "decryption"}
    | {"master", "client", "auth", "service", "ssh", "hmac", "jwt", "webhook", "license"}
    | {"licence", "subscription", "account", "storage", "admin", "crypto", "cipher", "aes"}
    | {"rsa", "gpg", "pgp", "bearer", "app", "consumer", "shared", "root", "deploy", "bot"}
    # the providers an LLM app holds keys of: openai_key, ANTHROPIC_KEY, ...
    | {"openai", "anthropic", "cohere", "mistral", "groq", "gemini", "google", "azure", "aws"}
    | {"hf", "huggingface", "honeyhive", "hh", "pinecone", "together", "replicate", "voyage"}
    | {"deepseek", "fireworks", "perplexity", "xai", "openrouter", "cerebras", "stripe"}
    | {"github", "gitlab", "slack", "twilio", "sendgrid", "langfuse", "langsmith", "tavily"}
    | {"serpapi", "wandb", "elevenlabs", "deepgram", "assemblyai", "qdrant", "weaviate"}
)
# private_key_pem, signing_key_b64, password_hash: a secret's form is as secret as itself.
_SECRET_FORMS = frozenset(
    {"pem", "der", "b64", "base64", "hex", "raw", "bytes", "data", "value", "hash", "material"}
)
_FORMED_WORDS = frozenset({"password", "passwd", "passphrase", "secret"})
# Tokenizer settings and pagination cursors are tokens too, but not secrets.
_HARMLESS_TOKENS = frozenset(
    {"eos", "bos", "pad", "unk", "sep", "cls", "mask", "stop", "start", "end", "special"}
    | {"page", "next", "max", "num"}
)


def is_secret_key(key: str) -> bool:
    """True when ``key`` names a secret: ``api_key``, ``ApiKey``, ``x-api-key``, ``password``,
    ``client_secret``, ``access_token``, ``Authorization``, ``auth``, ``set-cookie``,
    ``credentials``, ``private_key``, ``openai_key``, ``ANTHROPIC_API_KEY``, ``signing_key``,
    ``encryption_key``, ``private_key_pem``... Words split on ``_-.``, spaces and camelCase.
    Token counts and tokenizer settings (``max_tokens``, ``token_count``, ``tokenizer``,
    ``eos_token``), other keys (``cache_key``, ``primary_key``) and ``author``/``auth_method``/
    ``secret_santa`` are not."""
    if type(key) is not str:
        return False
    return secret_tail(key[-64:])  # only the last words matter; the cache stays small


@functools.lru_cache(maxsize=4096)
def secret_tail(key: str) -> bool:
    """:func:`is_secret_key` of a key's last 64 characters, cached per key string."""
    words = [word.lower() for word in _WORD.findall(key)]
    if not words:
        return False
    if len(words) > 1 and words[-1] in _SECRET_FORMS:
        named = words[-2]
        if named in _FORMED_WORDS:
            return True
        if named == "key" and len(words) > 2 and words[-3] in _SECRET_KEY_OWNERS:
            return True
    last, before = words[-1], words[-2] if len(words) > 1 else ""
    if last == "token" and before in _HARMLESS_TOKENS:
        return False
    return last in _SECRET_WORDS or (last == "key" and before in _SECRET_KEY_OWNERS)


# Every branch starts with a literal character that is rare in prose, outside any group, so
# that the engine scans for those characters in C and skips ordinary text; the known prefix
# before it is checked by lookbehinds. The empty named group right after that character names
# the branch (``lastgroup``) and ends what stays visible.
_T = r"[A-Za-z0-9_\-]"
_VALUE_PATTERN = re.compile(
    rf"""
      :(?P<url>//[^\s:/@?#"'<>]{{0,256}}:)[^\s@/?#"'<>]{{1,256}}(?=@)
    | -(?P<pem>----BEGIN[A-Z\ ]{{0,40}}PRIVATE\ KEY-----)
        .*?(?:-----END[A-Z\ ]{{0,40}}PRIVATE\ KEY-----|\Z)
    | -(?P<dash>)
        (?:(?<![A-Za-z0-9_]sk-)(?<=sk-)(?:ant-|proj-|svcacct-|admin-)?
          |(?<![A-Za-z0-9_]xox[abprs]-)(?<=xox[abprs]-))
        {_T}{{16,}}
    | _(?P<under>)
        (?:(?<![A-Za-z0-9_]hh_)(?<=hh_)|(?<![A-Za-z0-9_]hf_)(?<=hf_)
          |(?<![A-Za-z0-9_]gh[opsur]_)(?<=gh[opsur]_)|(?<=github_pat_)
          |(?<=sk_live_)|(?<=rk_live_)|(?<=sk_test_))
        {_T}{{16,}}
    | J(?P<jwt>)(?<![A-Za-z0-9_\-]eyJ)(?<=eyJ){_T}{{8,}}\.eyJ{_T}{{8,}}\.{_T}*
    | A(?P<aws>)(?<![A-Za-z0-9]A)(?:KIA|SIA)[A-Z0-9]{{16}}(?![A-Za-z0-9])
    | A(?P<google>)(?<![A-Za-z0-9]A)Iza[A-Za-z0-9_\-]{{30,}}
    | =(?P<pair>)(?i:(?<=password=)|(?<=passwd=)|(?<=pwd=)|(?<=passphrase=))[^\s;,"']+
    """,
    re.VERBOSE | re.DOTALL,
)
find_secret = _VALUE_PATTERN.search
"""``find_secret(text)``: the first secret value in ``text``, or None (a C call: no Python
frame, for the serializer's fast path)."""
_SHOWN = {"aws": 4, "google": 4}  # AKIA***, AIza***: the 3 letters after the A stay too


def _masked(match: re.Match[str]) -> str:
    kind = match.lastgroup or ""
    shown = _SHOWN.get(kind) or match.end(kind) - match.start()
    return match.group()[:shown] + MASK


def plausible(text: str) -> bool:
    """Whether a long string is worth searching: it starts like a key or a PEM block, or has a
    URL scheme near its start. Constant time."""
    return (text[0] in _FIRST and text.startswith(KEY_PREFIXES)) or "://" in text[:40]


def needs_scrub(text: str) -> bool:
    """Whether :func:`scrub` would change ``text`` (the serializer's fast path asks).

    Costs counted in instructions (callgrind): one regular-expression call is ~4,000 whatever
    the text, a Python call ~800, an ``in`` test ~300 (memchr speed on the text); so a few
    ``in`` tests decide first, inline. Every secret the pattern knows contains one of them.
    """
    size = len(text)
    if size < MIN_SECRET:
        return False
    if size > SCAN_ALL:
        # startswith() over the prefixes costs ~2,500: only when the first letter fits.
        if not ((text[0] in _FIRST and text.startswith(KEY_PREFIXES)) or "://" in text[:40]):
            return False
    elif not (
        "-" in text
        or "_" in text
        or "=" in text
        or "://" in text
        or "eyJ" in text
        or ("A" in text and ("AKIA" in text or "ASIA" in text or "AIza" in text))
    ):
        return False
    return find_secret(text) is not None


def scrub(text: str, *, whole: bool = False) -> str:
    """``text`` with the secret values this module recognises masked (see the module doc); the
    same object when there is none. A string longer than :data:`SCAN_ALL` is searched only if
    :func:`plausible`, or when ``whole`` (error messages, tracebacks). Never raises for a str."""
    if len(text) < MIN_SECRET or (len(text) > SCAN_ALL and not whole and not plausible(text)):
        return text
    return _VALUE_PATTERN.sub(_masked, text)


def scrub_message(text: str, *secrets: str | None) -> str:
    """A server's message made fit for a log line: each of ``secrets`` (the configured API key)
    replaced wherever it appears, then :func:`scrub`."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, MASK)
    return scrub(text, whole=True)
