"""Where requests go and the key they carry: an argument, else the environment, else stored.

One order, for the library (`ChatClient`, and so `Agent`) and for the `agentkit` command:

```
key        api_key=  ─▶  $GOAPI_KEY       ─▶  the key 'agentkit keys set' stored
                         ─▶  none found: another server gets the placeholder "none",
                             GoAPI a UsageError that names every place looked at
base URL   base_url= ─▶  $GOAPI_BASE_URL  ─▶  GoAPI (streams to api.goapi.xyz,
                                               non-streamed requests to proxy.goapi.xyz)
```

An empty value counts as not set. The stored key is read only when neither an argument nor
the environment gives one. A key is never logged, and no error text here contains one.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ._exceptions import UsageError
from ._keys import key_path, stored_key

__all__ = ["KEYLESS", "resolve_base_url", "resolve_key"]

KEYLESS = "none"
"""Sent to a server other than GoAPI when no key is found: local servers (vLLM, Ollama) need
none, and the `Authorization` header keeps its usual shape."""

_GOAPI_HOST = "goapi.xyz"


def resolve_base_url(base_url: str | None, *, argument: str = "base_url") -> str | None:
    """The base URL requests go to: `base_url`, else `GOAPI_BASE_URL`; `None` means GoAPI.

    `argument` is how the caller names its base URL in the error.

    Raises:
        UsageError: The URL (from the argument or the environment, as the text says) does
            not start with `http://` or `https://`.

    Examples:
        >>> resolve_base_url("http://127.0.0.1:8000/v1/")
        'http://127.0.0.1:8000/v1'
    """
    where = argument
    if not base_url:
        base_url, where = os.environ.get("GOAPI_BASE_URL", "").strip(), "GOAPI_BASE_URL"
    if not base_url:
        return None
    if not base_url.startswith(("http://", "https://")):
        raise UsageError(f"{where} must start with http:// or https://, got {base_url!r}.")
    return base_url.rstrip("/")


def resolve_key(
    api_key: str | None,
    base_url: str | None,
    *,
    argument: str | None = "api_key=...",
    advice: str = (
        "Pass api_key=..., set GOAPI_KEY (export GOAPI_KEY=<your key>), or store the key "
        "once with 'agentkit keys set'."
    ),
) -> str:
    """The key to send: `api_key`, else `GOAPI_KEY`, else the stored key.

    When none is found, a server other than GoAPI (`base_url`, already resolved) gets
    `KEYLESS`; GoAPI's own servers need a key, so that is an error.

    Args:
        api_key: The key the caller was given, if any.
        base_url: Where the requests go (`resolve_base_url`); `None` is GoAPI.
        argument: How the caller names its key argument in the error (`None`: it has none).
        advice: What the error tells the user to do.

    Raises:
        UsageError: No key was found for GoAPI (the text lists where agentkit looked), a key
            has spaces or control characters inside it, or the stored keys cannot be read.

    Examples:
        >>> resolve_key(" sk-test ", None)
        'sk-test'
    """
    for where, key in (
        (argument or "the argument", api_key),
        ("GOAPI_KEY", os.environ.get("GOAPI_KEY")),
    ):
        if key and key.strip():
            return _checked(key.strip(), where)
    key = stored_key()
    if key:
        return _checked(key, f"the key stored in {key_path()}")
    if base_url is not None and not _is_goapi(base_url):
        return KEYLESS
    looked = [f"no {argument} was passed"] if argument else []
    looked += ["GOAPI_KEY is not set", f"no key is stored in {key_path()}"]
    raise UsageError(f"No API key: {', '.join(looked[:-1])} and {looked[-1]}. {advice}")


def _checked(key: str, where: str) -> str:
    """`key`, unless it cannot go into a header; the error names where it came from, never it."""
    if any(c.isspace() for c in key) or not key.isprintable() or not key.isascii():
        raise UsageError(
            f"The API key from {where} has spaces, control or non-ASCII characters inside it; "
            "copy it again without them."
        )
    return key


def _is_goapi(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host == _GOAPI_HOST or host.endswith("." + _GOAPI_HOST)
