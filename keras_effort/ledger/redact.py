"""`redact`: the one place that keeps a database password out of what keras-effort prints."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MASK = "***"

# libpq's secret connection parameters (those `PQconndefaults` marks for hidden display).
_SECRET_PARAMETERS = ("password", "sslpassword")
# `scheme://user:secret@`: the secret ends at the last `@` before the host.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#:@]*:)[^\s/?#]*(@)")
# `password=secret` in a query string (`?`, `&`) or a libpq key=value string (`, space).
_PARAMETER = re.compile(
    rf"(?i)(?<![\w-])((?:{'|'.join(_SECRET_PARAMETERS)})\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&#'\"]*)"
)


def redact(text: str, url: str | None = None) -> str:
    """`text` with every password masked as `***`, ready to print, log or raise.

    Masks the password of every URL in `text` (`user:password@` and the `password` or
    `sslpassword` parameters of its query string or of a libpq `key=value` string) and, when
    `url` is given, each secret of `url` wherever it appears in `text`, both as written in the
    URL and percent-decoded (a driver may echo either, also when the encoding is malformed).

    Args:
        text: a message, a URL or a path.
        url: the database URL whose secrets must not appear in `text`, e.g. the URL whose
            connection failed with the message `text`.

    Returns:
        `text` without any password.
    """
    secrets = sorted(_secrets(url), key=len, reverse=True) if url else []
    for secret in secrets:  # the longest first: a secret may contain a shorter one
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(rf"\1{MASK}\2", text)
    return _PARAMETER.sub(rf"\1{MASK}", text)


def _secrets(url: str) -> set[str]:
    """The secrets of `url`, as written and percent-decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL to take apart: its text is masked by pattern only
        return set()
    raw = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        if ":" in userinfo:
            raw.add(userinfo.partition(":")[2])
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if unquote(name).strip().lower() in _SECRET_PARAMETERS:
            raw.add(value)
    decoded = {unquote(secret) for secret in raw} | {unquote(s.replace("+", " ")) for s in raw}
    return {secret for secret in raw | decoded if secret}
