"""Phemex public market data (DataGW WebSocket), reference: shared/docs/phemex-protocol.md."""

from ticklake.feed.phemex.products import Family, Product, ProductTable, default_products
from ticklake.feed.phemex.protocol import PhemexProtocol, ProtocolConfig, Subscription

__all__ = [
    "Family",
    "PhemexProtocol",
    "Product",
    "ProductTable",
    "ProtocolConfig",
    "Subscription",
    "default_products",
]
