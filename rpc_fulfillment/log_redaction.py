"""No credential in a log: API keys, HTTP Basic and Bearer tokens, session ids.

aiohttp logs a request it cannot parse with the parser's exception, and that exception quotes
the offending bytes: a header line with a stray control character whole (``Authorization:
Basic <key>``), a line over 8190 bytes by its first 100 bytes (the value, without the header's
name), a malformed request line with its query string. The access log writes the request line,
query string included. So every record of aiohttp's server loggers, and every record reaching
the server's log handlers, passes through ``RedactingFilter``:

- a parse error is logged as its status and description ("400 Invalid header value char"),
  without the quoted bytes and without aiohttp's traceback (a client's malformed request is
  not a bug of the server);
- any other text, tracebacks included, has Authorization values, Basic/Bearer/Digest tokens and
  credential-named query parameters replaced by ``[redacted]``.

The server's own code never logs a key or a session id (keys and session ids are hashed before
they reach the database; failed logins log the username and the address only).
"""

from __future__ import annotations

import logging
import re

from aiohttp.http_exceptions import HttpProcessingError

REDACTED = "[redacted]"
AIOHTTP_SERVER_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal")
LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"

_CREDENTIAL_PATTERNS = (
    # A credential header and its whole value, up to the end of the line or of a quoted literal.
    (re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|cookie)(\s*[:=]\s*)[^\r\n'\"]*"), rf"\1\2{REDACTED}"),
    # A token after its scheme, also when the header's name is not in the text (a line cut short).
    (re.compile(r"(?i)\b(basic|bearer|digest)(\s+)(?=\S{8})[^\s'\"]+"), rf"\1\2{REDACTED}"),
    # A credential in a query string (the request line of the access log or of a parse error).
    (re.compile(r"(?i)([?&;](?:api_?key|key|session(?:_?id)?|token|password|secret)=)[^&;\s'\"]*"), rf"\1{REDACTED}"),
)
# Where a parse error's message starts quoting the request's bytes (b'...').
_QUOTED_BYTES = re.compile(r"\s*\bb['\"]")


def redact(text: str) -> str:
    """``text`` with every credential it carries replaced by ``[redacted]``."""
    for pattern, replacement in _CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def describe_parse_error(error: HttpProcessingError) -> str:
    """'400 Invalid header value char': the parser's description without the request's bytes."""
    description = _QUOTED_BYTES.split(error.message or "", maxsplit=1)[0]
    return f"{error.code} {' '.join(description.split()).rstrip(':. ')}".strip()


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no credential reaches any handler; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            message = f"{message}: {describe_parse_error(error)}"
            record.exc_text = None
        elif record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg, record.args, record.exc_info = redact(message), None, None
        return True


_FILTER = RedactingFilter()


def install_on_aiohttp_loggers() -> None:
    """Attach the filter to aiohttp's server loggers (a logger's filter sees the records made
    on that logger, whichever handlers receive them: the server's, or a test's capture)."""
    for name in AIOHTTP_SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def configure_logging(level: str) -> None:
    """The command line's logging: to stderr at ``level``, every handler redacting (also the
    records of the server's own loggers and of libraries), aiohttp's loggers too."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    install_on_aiohttp_loggers()
