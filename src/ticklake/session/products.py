"""Fetch the REST products payload so scales come from the exchange, not constants (§7)."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from ticklake.errors import ConfigError, ProtocolError
from ticklake.feed.phemex.products import (
    DEFAULTS_SOURCE,
    ProductTable,
    default_products,
    parse_products_payload,
)

logger = logging.getLogger(__name__)

_LIVE_HOSTS = {"ws.phemex.com": "api.phemex.com", "vapi.phemex.com": "vapi.phemex.com",
               "testnet-api.phemex.com": "testnet-api.phemex.com"}
MAX_PAYLOAD = 32 * 2**20
_PRODUCTS_URL = "feed.products_url"


def products_url_for(ws_url: str) -> str:
    """The REST products URL that goes with a WebSocket URL (same host for the emulator)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    host = parts.hostname or ""
    netloc = _LIVE_HOSTS.get(host, parts.netloc)
    return urlunsplit((scheme, netloc, "/public/products", "", ""))


def _fetch(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read(MAX_PAYLOAD)
        return body


async def fetch_products(url: str, timeout: float = 10.0) -> ProductTable:
    """The exchange's products payload, parsed; raises OSError or ProtocolError."""
    payload = await asyncio.to_thread(_fetch, url, timeout)
    return parse_products_payload(payload, url)


async def load_products(
    url: str, timeout: float = 10.0, *, required: bool = False
) -> ProductTable:
    """The exchange's products, exactly as its payload lists them; the shipped defaults only
    when no payload can be fetched (said in a warning), unless the payload is ``required``
    (a product family is listed from it): then ConfigError."""
    if not url.startswith(("http://", "https://")):
        if required:
            raise ConfigError(_PRODUCTS_URL, url, "all:<family> needs the products URL")
        return default_products()
    try:
        fetched = await fetch_products(url, timeout)
    except (OSError, ProtocolError) as exc:
        if required:
            problem = f"cannot list a product family: {exc}"
            raise ConfigError(_PRODUCTS_URL, url, problem) from None
        logger.warning("= products from %s unavailable (%s); using the %s (%s)", url, exc,
                       DEFAULTS_SOURCE, ", ".join(default_products().symbols()))
        return default_products()
    for problem in fetched.problems:
        logger.warning("= products from %s: %s", url, problem)
    logger.info("= %d products loaded from %s", len(fetched), url)
    return fetched
