"""Every exception ticklake raises on purpose.

::

    TicklakeError                  user-facing; the CLI prints str(exc) on one line, exit 2
    ├── ConfigError                a setting is wrong; names the field and the value
    │   └── SnapshotMismatch       detector state that this detector cannot continue from
    ├── UnknownSymbolError         a symbol not in the product table
    ├── ProtocolError              the exchange broke the protocol in a way we cannot absorb
    │   └── SubscriptionRejected   the exchange refused a subscribe (error reply, e.g. 6001)
    ├── SessionError               the session cannot go on (refused URL, never connected)
    ├── SpoolError                 a spool operation failed (I/O error, closed writer, offset)
    │   └── SpoolCorrupt           damage on disk; names the file and byte position
    ├── StorageError               the lake's store failed (unreachable, permissions, full)
    │   └── TakenOver              another deliver worker published this partition first
    ├── LakeWriterFailed           the lake writer process failed or could not be stopped
    ├── ManifestError              the manifest cannot be read or written
    │   └── VersionTaken           another writer committed this manifest version first
    ├── LakeNotFound               the root holds no ticklake lake
    ├── QueryError                 SQL refused or failed: bad SQL, sandbox, time/size limit
    │   └── FilesGone              a planned file was compacted away: plan again
    ├── IcebergError               the Iceberg commit failed
    ├── BrokerError                the log URI is wrong, or the broker refused for good
    └── BadRequest                 a dashboard API request without a required parameter

Each class is defined here and imported where it is raised, so this drawing is the whole
tree.

Malformed frames are *not* exceptions: the sans-I/O core turns them into ``FrameRejected``
events so that nothing crashes and nothing is lost (the raw frame is kept with its reason).
"""

from __future__ import annotations


class TicklakeError(Exception):
    """Base of every error meant for the user: one line, no stack trace."""


class ConfigError(TicklakeError):
    """A configuration value is invalid."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        shown = "" if value is None else f" {value!r}"  # a missing value has nothing to show
        super().__init__(f"invalid {field}{shown}: {problem}")
        self.field = field
        self.value = value


class UnknownSymbolError(TicklakeError):
    """A symbol that the product table does not know."""

    def __init__(self, symbol: str, known: list[str]) -> None:
        shown = ", ".join(sorted(known)[:12])
        super().__init__(f"unknown symbol {symbol!r} (known: {shown})")
        self.symbol = symbol


class ProtocolError(TicklakeError):
    """The exchange broke the protocol in a way the client cannot absorb."""


class SubscriptionRejected(ProtocolError):
    """The exchange answered a subscribe with an error reply."""

    def __init__(self, method: str, symbol: str, code: int, message: str) -> None:
        super().__init__(
            f"{method} {symbol} rejected by the exchange: error {code} {message!r}"
        )
        self.method = method
        self.symbol = symbol
        self.code = code
        self.message = message


class SessionError(TicklakeError):
    """The session cannot continue (e.g. the URL is refused permanently)."""


class StorageError(TicklakeError):
    """The lake's storage failed (unreachable store, permissions, disk full)."""


def missing_bucket(root: str, bucket: str) -> StorageError:
    """An S3 lake whose bucket does not exist (ticklake never creates one)."""
    import os

    endpoint = (os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
                or "AWS S3 (AWS_ENDPOINT_URL not set)")
    return StorageError(
        f"cannot write to the lake at {root}: the bucket {bucket!r} does not exist at "
        f"{endpoint}; create it first (ticklake never creates buckets): docs/s3.md")


class SnapshotMismatch(ConfigError):
    """The bytes are not a snapshot this detector can continue from."""

    def __init__(self, problem: str) -> None:
        super().__init__("detector snapshot", None, problem)


class SpoolError(TicklakeError):
    """An operation on the spool failed; the message is one line and names the problem."""


class SpoolCorrupt(SpoolError):
    """Damaged data where a torn tail is impossible (e.g. inside an older segment)."""


class TakenOver(StorageError):
    """Another worker published this partition since we loaded its cursor."""


class LakeWriterFailed(TicklakeError):
    """The lake writer process failed or could not be stopped."""


class ManifestError(TicklakeError):
    """The manifest cannot be read or written."""


class VersionTaken(ManifestError):
    """Another writer committed this version of the log first."""


class LakeNotFound(TicklakeError):
    """The root holds no ticklake lake (``_ticklake/lake.json`` is missing or unreadable)."""


class QueryError(TicklakeError):
    """A query was refused or failed: bad SQL, a sandbox violation, a time or size limit."""


class FilesGone(QueryError):
    """A file the statement planned to read was deleted meanwhile (compacted away): plan it
    again from a refreshed manifest."""


class IcebergError(TicklakeError):
    """The Iceberg commit failed: bad catalog URI, unreachable catalog, rejected commit."""


class BrokerError(TicklakeError):
    """The log URI is wrong, or the broker refused something we cannot retry."""


class BadRequest(TicklakeError):
    """A request the API cannot make sense of (missing or malformed parameter)."""
