"""HTTP Basic credentials, for calls made with a null session."""

from __future__ import annotations

import base64
import binascii

from rpc_fulfillment.core.faults import Fault


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, api_key) from an ``Authorization: Basic`` header; None without one.

    A Basic header that cannot be decoded is wrong credentials (fault 2), not missing ones.
    """
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Fault("access_denied", "malformed HTTP Basic credentials") from None
    username, sep, api_key = decoded.partition(":")
    if not sep or not username or not api_key:
        raise Fault("access_denied", "malformed HTTP Basic credentials")
    return username, api_key
