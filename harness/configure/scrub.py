r"""Remove secrets from text and data before they leave the run's private area.

Artifacts under ``reports/<run-id>/`` are meant to be shared (dashboards, CI archives), so
whatever is copied there goes through :func:`scrub` / :func:`scrub_value` first:

* PEM private key blocks (also JSON-escaped, with literal ``\n``);
* every known secret value (the run's passwords), wherever it appears;
* values of password-like keys: ``password: x``, ``"password": "x"``, ``password=x``,
  ``PGPASSWORD=x``, ``PASSWORD 'x'``, ``--password x``, and the password in ``scheme://user:pass@host``.

>>> scrub("password=hunter2 host=db1")
'password=******** host=db1'
>>> scrub("postgresql://app:s3cret@10.0.0.5/db")
'postgresql://app:********@10.0.0.5/db'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "********"
_KEYS = r"(?:[A-Za-z_]*pass(?:word|wd|phrase)|[A-Za-z_]*secret|[A-Za-z_]*token|api_key|private_key)"
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL)
_PEM_OPEN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*", re.DOTALL)  # cut-off block
_PATTERNS = [
    # "password": "x"  (JSON, also with escaped quotes inside a JSON string)
    re.compile(r'(?i)(\\?"' + _KEYS + r'\\?"\s*:\s*\\?")((?:[^"\\]|\\(?!"))*)(\\?")'),
    # password: x / password=x / PGPASSWORD=x
    re.compile(r"(?i)(\b" + _KEYS + r"\b\s*[:=]\s*(?!" + re.escape(MASK) + r"))(['\"]?)([^\s'\",;}&]+)(['\"]?)"),
    # PASSWORD 'x' (SQL)
    re.compile(r"(?i)(\bpassword\s+')([^']*)(')"),
    # --password x
    re.compile(r"(?i)(--" + _KEYS + r"[= ])(\S+)"),
    # scheme://user:password@host
    re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s/]+)(@)"),
]


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with private keys, the given secret values and password-like values masked."""
    text = _PEM.sub(lambda m: f"[{m.group(1)}PRIVATE KEY removed]", text)
    text = _PEM_OPEN.sub("[PRIVATE KEY removed]", text)
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    json_key, key_value, sql, flag, url = _PATTERNS
    text = json_key.sub(lambda m: m.group(1) + (MASK if m.group(2) else "") + m.group(3), text)
    text = key_value.sub(lambda m: m.group(1) + m.group(2) + MASK + m.group(4), text)
    text = sql.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = flag.sub(lambda m: m.group(1) + MASK, text)
    text = url.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    return text


def scrub_value(value: Any, secrets: Iterable[str] = ()) -> Any:
    """:func:`scrub` applied to every string in nested dicts/lists; password-like keys masked."""
    secrets = list(secrets)
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and _secret_key(k) and value[k] not in (None, "") and
                    not isinstance(value[k], (dict, list, bool))
                    else scrub_value(v, secrets)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v, secrets) for v in value]
    return value


def _secret_key(key: str) -> bool:
    return re.fullmatch(r"(?i).*" + _KEYS + r".*", key) is not None and not key.lower().endswith(("_file", "_path"))
