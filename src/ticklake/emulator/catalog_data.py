"""The exchange catalog's raw data, written down (no randomness, nothing fetched).

Sources (tags as in shared/docs/phemex-protocol.md §0):

* COIN-M names, settle currencies and value scales: C's "Price/Ratio/Value Scales" table of
  Dec 2021 (phemex-api-docs 7304f2e: BTCUSD settles BTC, ``cETHUSD`` ETH, ``uBTCUSD`` and every
  other ``…USD`` contract USD with valueScale 4); ``LENDUSD`` was delisted in Nov 2020 (a57d18c).
* Spot tick sizes: S's "All Spot trading products" table of Dec 2021 (5c8352e), quoted below
  verbatim as (quoteTickSize, baseTickSize); currency value scales from S's "All Spot trading
  currencies" table of the same commit: **SHIB 2 and VPAD 4**, every other coin 8.
* ``sUSDTTRY``: quote TRY with priceScale 4 (so TRY's valueScale is 4), status ``Delisted``
  (ROQ test/json_products_ack.cpp, 2025).
* USDⓈ-M ticks/steps: BTCUSDT (reference §7), ETH/LTC/ADA/XRP/DOGE from ccxt's static
  Phemex markets (ts/src/test/static/markets/phemex.json); the ``u1000PEPEUSDT`` /
  ``u1000SHIBUSDT`` naming from public Phemex client code.
* Product statuses seen live: ``Listed``, ``Delisted``, ``BeingSettled`` (ROQ Status enum).

Everything else (reference prices, the other coins' ticks and steps, which rows are delisted)
is made up to look like the real exchange; rules in :mod:`ticklake.emulator.catalog`.
"""

from __future__ import annotations

__all__ = [
    "COINS",
    "COIN_M_DOC",
    "EXTRA_SPOT",
    "SPOT_DOC",
    "STATUS",
    "USDT_M_DOC",
    "VALUE_SCALES",
]

# base, reference price in USD, families (c = COIN-M "<B>USD", u = USDⓈ-M "<B>USDT",
# s = spot "s<B>USDT"). Order matters: it fixes codes, sequence bases and tick variants.
_COINS = """
BTC 90000 cus | ETH 3000 cus | XRP 0.55 cus | LINK 14 cus | XTZ 0.8 cus | LTC 80 cus
GOLD 2400 c | ADA 0.45 cus | BCH 380 cus | COMP 55 cus | ALGO 0.18 cus | YFI 6500 cus
DOT 6.5 cus | UNI 8 cus | BAT 0.22 cus | CHZ 0.08 cus | MANA 0.4 cus | ENJ 0.25 cus
SUSHI 1.1 cus | SNX 2.2 cus | GRT 0.16 cus | MKR 2000 cus | TRX 0.16 cus | EOS 0.7 cus
ONT 0.25 cus | NEO 12 cus | ZEC 30 cus | FIL 5 cus | KSM 25 cus | XMR 160 cus
QTUM 3 cus | XLM 0.11 cus | ATOM 7 cus | LUNA 0.45 cus | SOL 150 cus | AXS 6 cus
MATIC 0.5 cus | SHIB 0.000018 us | FTM 0.7 cus | DYDX 1.5 cus | VPAD 0.004 s | AAVE 150 cus
DOGE 0.15 cus | VET 0.03 cus | LEND 0.5 c | AVAX 30 cus | NEAR 5 cus | APT 9 cus
ARB 0.8 cus | OP 1.8 cus | SUI 1.5 cus | SEI 0.4 cus | INJ 22 cus | TIA 6 cus
WLD 2.2 cus | BNB 580 cus | TON 5.5 cus | ICP 9 cus | ETC 24 cus | HBAR 0.08 cus
THETA 1.5 cus | EGLD 35 cus | FLOW 0.6 cus | SAND 0.35 cus | APE 1.1 cus | GMT 0.18 cus
GALA 0.025 cus | IMX 1.5 cus | LDO 1.8 cus | RNDR 7 cus | FET 1.4 cus | AGIX 0.6 cus
OCEAN 0.7 cus | CRV 0.35 cus | 1INCH 0.4 cus | CAKE 2.2 cus | RUNE 4.5 cus | KAVA 0.45 cus
ZIL 0.02 cus | IOTA 0.2 cus | ICX 0.18 cus | ONE 0.015 cus | CELO 0.7 cus | ANKR 0.03 cus
STORJ 0.5 cus | SKL 0.04 cus | BAND 1.4 cus | ZRX 0.4 cus | KNC 0.5 cus | LRC 0.2 cus
BAL 2.5 cus | UMA 2.5 cus | API3 1.8 cus | BLUR 0.3 cus | JASMY 0.025 cus | MASK 2.5 cus
ENS 18 cus | GMX 25 cus | STX 1.7 cus | CFX 0.15 cus | MINA 0.55 cus | ROSE 0.08 cus
AR 25 cus | WOO 0.2 cus | ID 0.35 cus | JOE 0.35 cus | HOOK 0.6 cus | MAGIC 0.5 cus
SSV 25 cus | RDNT 0.1 cus | PENDLE 4 cus | ARKM 1.8 cus | CYBER 3 cus | ORDI 35 cus
WIF 2.5 cus | JUP 0.9 cus | PYTH 0.35 cus | STRK 0.6 cus | ENA 0.5 cus | ETHFI 2 cus
SRM 0.05 cus | FTT 1.5 cus | WAVES 1.2 cus | OMG 0.4 cus | MIR 0.03 c | ANC 0.02 c
PEPE 0.00001 us | BONK 0.00002 s | FLOKI 0.00015 s | NOT 0.008 us | BOME 0.008 us
"""

COINS: tuple[tuple[str, str, str], ...] = tuple(
    (fields[0], fields[1], fields[2])
    for line in _COINS.strip().splitlines()
    for cell in line.split("|")
    if (fields := cell.split())
)

# Currencies whose valueScale is not 8 (S currency table; USD and TRY: C and ROQ).
VALUE_SCALES: dict[str, int] = {"USD": 4, "TRY": 4, "SHIB": 2, "VPAD": 4}

# S, Dec 2021: base -> (quoteTickSize in USDT, baseTickSize in base).
SPOT_DOC: dict[str, tuple[str, str]] = {
    "BTC": ("0.01", "0.000001"), "ETH": ("0.01", "0.00001"), "XRP": ("0.00001", "0.1"),
    "LINK": ("0.0001", "0.01"), "XTZ": ("0.0001", "0.01"), "LTC": ("0.01", "0.00001"),
    "ADA": ("0.00005", "0.1"), "TRX": ("0.00005", "0.1"), "ONT": ("0.0005", "0.1"),
    "BCH": ("0.01", "0.00001"), "NEO": ("0.001", "0.001"), "EOS": ("0.0001", "0.01"),
    "DOGE": ("0.000001", "1"), "BAT": ("0.00001", "0.01"), "CHZ": ("0.00001", "0.01"),
    "MANA": ("0.00001", "0.01"), "ENJ": ("0.00001", "0.01"), "SUSHI": ("0.001", "0.001"),
    "SNX": ("0.001", "0.001"), "GRT": ("0.00001", "0.01"), "UNI": ("0.001", "0.001"),
    "AAVE": ("0.01", "0.0001"), "YFI": ("0.01", "0.00001"), "COMP": ("0.01", "0.0001"),
    "MKR": ("0.01", "0.00001"), "DOT": ("0.001", "0.001"), "ALGO": ("0.00001", "0.01"),
    "VET": ("0.000001", "0.1"), "ZEC": ("0.01", "0.0001"), "FIL": ("0.01", "0.0001"),
    "KSM": ("0.01", "0.0001"), "XMR": ("0.01", "0.0001"), "QTUM": ("0.001", "0.001"),
    "XLM": ("0.00001", "0.01"), "ATOM": ("0.001", "0.001"), "LUNA": ("0.001", "0.001"),
    "SOL": ("0.001", "0.001"), "AXS": ("0.001", "0.001"), "MATIC": ("0.00001", "0.01"),
    "SHIB": ("0.00000001", "1"), "FTM": ("0.00001", "0.01"), "DYDX": ("0.001", "0.001"),
    "VPAD": ("0.000001", "0.1"),
}

# Spot pairs not quoted in USDT: symbol -> (base, quote, price in quote, quote tick, base tick).
EXTRA_SPOT: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("sBTCUSDC", "BTC", "USDC", "90000", "0.01", "0.000001"),
    ("sETHUSDC", "ETH", "USDC", "3000", "0.01", "0.00001"),
    ("sSOLUSDC", "SOL", "USDC", "150", "0.001", "0.001"),
    ("sBTCTRY", "BTC", "TRY", "3100000", "1", "0.000001"),
    ("sETHTRY", "ETH", "TRY", "103000", "0.1", "0.00001"),
    ("sUSDTTRY", "USDT", "TRY", "34.5", "0.001", "0.001"),  # ROQ capture: Delisted
)

# USDⓈ-M: base -> (tickSize, qtyStepSize).
USDT_M_DOC: dict[str, tuple[str, str]] = {
    "BTC": ("0.1", "0.001"), "ETH": ("0.01", "0.01"), "LTC": ("0.01", "0.01"),
    "ADA": ("0.0001", "0.01"), "XRP": ("0.0001", "0.01"), "DOGE": ("0.00001", "1"),
}

# COIN-M: symbol -> (tickSize, contractSize); the special contracts' settle currency is in
# catalog.py. uBTCUSD's contract size is not documented (0.001 BTC is a guess).
COIN_M_DOC: dict[str, tuple[str, str]] = {
    "BTCUSD": ("0.1", "1"), "ETHUSD": ("0.05", "0.005"),
    "cETHUSD": ("0.05", "1"), "uBTCUSD": ("0.1", "0.001"),
}

# Everything not named here is "Listed".
STATUS: dict[str, str] = {
    # COIN-M
    "LENDUSD": "Delisted", "SRMUSD": "Delisted", "FTTUSD": "Delisted", "MIRUSD": "Delisted",
    "ANCUSD": "Delisted", "WAVESUSD": "Delisted", "OMGUSD": "BeingSettled",
    # USDⓈ-M
    "SRMUSDT": "Delisted", "FTTUSDT": "Delisted", "AGIXUSDT": "Delisted",
    "OCEANUSDT": "Delisted", "WAVESUSDT": "Delisted", "RNDRUSDT": "BeingSettled",
    # spot
    "sUSDTTRY": "Delisted", "sSRMUSDT": "Delisted", "sFTTUSDT": "Delisted",
    "sAGIXUSDT": "Delisted", "sOCEANUSDT": "Delisted", "sWAVESUSDT": "Delisted",
}
