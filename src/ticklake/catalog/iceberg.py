"""Iceberg tables over the lake's Parquet files, for Athena, Trino, Spark and Snowflake.

``commit_lake`` registers the lake's live Parquet files in one Iceberg table per lake table
(namespace ``ticklake`` by default) without copying a byte: only metadata is written. Each run
is incremental and idempotent, one snapshot per table that changed and none otherwise:

- files that are new in the lake are added;
- files that left the lake, and files a ``compact-`` file supersedes, are removed *in the same
  snapshot* that adds their replacement (an overwrite), so an Iceberg reader never sees a trade
  twice nor misses one (docs/lake-layout.md's rule, applied by ``Lake.files``).

The partition columns (exchange, symbol, date) are in the paths only, not in the files. pyiceberg's
``add_files`` takes partition values from column statistics, which these files do not have, so
the data-file entries are built here with the partition record taken from the path. Readers then
fill those columns from the partition record: the Iceberg spec's column-projection rule for
identity partitions ("metadata-only migration of Hive tables"). The files carry no Iceberg field
ids, so every table gets a name mapping (``schema.name-mapping.default``).

Catalogs (``open_catalog``): ``sqlite:///path/catalog.db`` (the default kind; warehouse
``<lake>/_iceberg``), ``rest+http(s)://...`` or ``http(s)://...`` (an Iceberg REST catalog) and
``glue://`` (AWS Glue; needs boto3, untested offline). Extra catalog properties come from
``options`` and, as pyiceberg does, from ``PYICEBERG_CATALOG__TICKLAKE__*`` variables and
``~/.pyiceberg.yaml``. Object-store settings are the lake's own (``AWS_ENDPOINT_URL``,
``AWS_REGION``; credentials from the AWS default chain, never put in properties or printed).

pyiceberg is an optional dependency (``pip install 'ticklake[iceberg]'``): importing
``ticklake.catalog`` does not import this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NoSuchNamespaceError,
    NoSuchTableError,
    NotInstalledError,
    RESTError,
    SignError,
    ValidationException,
)
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table, TableProperties
from pyiceberg.transforms import IdentityTransform
from pyiceberg.typedef import Record
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestamptzType,
)

from ticklake.catalog.lake import Lake
from ticklake.catalog.schema import PARTITIONS, TABLES, view_schema
from ticklake.errors import IcebergError

DEFAULT_NAMESPACE = "ticklake"
CATALOG_NAME = "ticklake"  # pyiceberg reads PYICEBERG_CATALOG__TICKLAKE__* for it
WAREHOUSE_DIR = "_iceberg"  # inside the lake; engines skip "_" directories
_FOOTER_THREADS = 8
_PARTITION_FIELD_IDS = 1000  # Iceberg's convention: partition field ids start at 1000
_EPOCH = dt.date(1970, 1, 1)
_SECRET_WORDS = ("secret", "token", "password", "credential", "key")


@dataclass(frozen=True)
class TableCommit:
    """What one run did to one Iceberg table."""

    table: str  # "namespace.table"
    added: int  # data files added
    removed: int  # data files removed (superseded by compaction or gone from the lake)
    files: int  # data files the table holds now
    snapshot_id: int | None  # the new snapshot; None when nothing changed (no snapshot made)


# -- the catalog ---------------------------------------------------------------------------


def catalog_properties(
    uri: str, lake: Lake, warehouse: str | None = None,
    options: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """pyiceberg catalog properties for ``uri``; raises :class:`IcebergError` on a bad URI."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    props: dict[str, str] = _object_store_properties()
    if scheme == "sqlite":
        if not parts.path or parts.path == "/" or parts.netloc:
            msg = f"bad SQLite catalog URI {_redact_uri(uri)!r}: write sqlite:///path/catalog.db"
            raise IcebergError(msg)
        props |= {"type": "sql", "uri": uri,
                  "warehouse": warehouse or f"{lake_uri(lake)}/{WAREHOUSE_DIR}"}
    elif scheme in ("http", "https", "rest+http", "rest+https"):
        if not parts.hostname:
            msg = f"bad REST catalog URI {_redact_uri(uri)!r}: write rest+http://host:port/path"
            raise IcebergError(msg)
        props |= {"type": "rest", "uri": uri.removeprefix("rest+")}
        if warehouse:
            props["warehouse"] = warehouse
    elif scheme == "glue":
        # glue://[?region=..&id=..]: the account's Glue Data Catalog (boto3 credentials chain).
        props |= {"type": "glue", "warehouse": warehouse or f"{lake_uri(lake)}/{WAREHOUSE_DIR}"}
        for key, value in parse_qsl(parts.query):
            props[f"glue.{key}"] = value
    else:
        msg = (f"unsupported Iceberg catalog URI {_redact_uri(uri)!r}: use sqlite:///FILE, "
               "rest+http(s)://HOST/PATH (or http(s)://) or glue://")
        raise IcebergError(msg)
    props |= dict(options or {})
    return props


def open_catalog(
    uri: str, lake: Lake, warehouse: str | None = None,
    options: Mapping[str, str] | None = None,
) -> Catalog:
    """The catalog ``uri`` names (see :func:`catalog_properties`)."""
    props = catalog_properties(uri, lake, warehouse, options)
    with _errors("cannot open the Iceberg catalog", props):
        catalog = load_catalog(CATALOG_NAME, **props)
    return catalog


def lake_uri(lake: Lake) -> str:
    """The lake root as a URI every engine resolves: ``file:///abs/path`` or ``s3://...``."""
    return f"s3://{lake.base}" if lake.root.startswith("s3://") else f"file://{lake.base}"


def _object_store_properties() -> dict[str, str]:
    """The lake's S3 endpoint and region for pyiceberg's FileIO (keys: AWS default chain)."""
    props = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        props["s3.endpoint"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        props["s3.region"] = region
    return props


# -- schemas -------------------------------------------------------------------------------


def iceberg_schema(table: str) -> Schema:
    """The lake table as Iceberg sees it: the file columns, then the partition columns.

    Every field is optional (the Parquet files declare their columns nullable) and field ids
    follow the documented column order, so the name mapping is stable across runs.
    """
    fields = [
        NestedField(field_id=i, name=f.name, field_type=_iceberg_type(f.type), required=False)
        for i, f in enumerate(view_schema(table), start=1)
    ]
    return Schema(*fields)


def partition_spec(table: str, schema: Schema) -> PartitionSpec:
    """Identity partitions on the Hive keys, so readers project them from the partition."""
    return PartitionSpec(*[
        PartitionField(source_id=schema.find_field(key).field_id,
                       field_id=_PARTITION_FIELD_IDS + i, transform=IdentityTransform(), name=key)
        for i, key in enumerate(PARTITIONS[table])
    ])


def _iceberg_type(kind: pa.DataType) -> IcebergType:
    if pa.types.is_string(kind):
        return StringType()
    if pa.types.is_int64(kind):
        return LongType()
    if pa.types.is_int32(kind) or pa.types.is_int16(kind):  # Iceberg has no 16-bit int
        return IntegerType()
    if pa.types.is_boolean(kind):
        return BooleanType()
    if pa.types.is_float64(kind):
        return DoubleType()
    if pa.types.is_decimal(kind):
        return DecimalType(kind.precision, kind.scale)
    if pa.types.is_timestamp(kind) and kind.unit == "us" and kind.tz == "UTC":
        return TimestamptzType()
    if pa.types.is_date32(kind):
        return DateType()
    msg = f"no Iceberg type for the lake's column type {kind}"  # a new type in tables.py
    raise IcebergError(msg)


# -- the commit ----------------------------------------------------------------------------


def commit_lake(
    lake: Lake, catalog: Catalog, namespace: str = DEFAULT_NAMESPACE,
    tables: Iterable[str] = TABLES,
) -> list[TableCommit]:
    """Bring each Iceberg table in line with the lake's live files (one snapshot per change)."""
    with _errors(f"cannot create the namespace {namespace!r}", {}):
        catalog.create_namespace_if_not_exists(namespace)
    results = []
    for table in tables:
        identifier = f"{namespace}.{table}"
        with _errors(f"cannot commit {identifier}", {}):
            results.append(_commit_table(lake, _open_table(catalog, identifier, table), table,
                                         identifier))
    return results


def _open_table(catalog: Catalog, identifier: str, table: str) -> Table:
    schema = iceberg_schema(table)
    iceberg = catalog.create_table_if_not_exists(
        identifier, schema=schema, partition_spec=partition_spec(table, schema),
        properties={TableProperties.DEFAULT_NAME_MAPPING: schema.name_mapping.model_dump_json(),
                    "format-version": "2"},
    )
    missing = set(schema.column_names) - set(iceberg.schema().column_names)
    if missing:  # the lake gained columns (tables.py): evolve, and map the new names
        with iceberg.transaction() as tx:
            with tx.update_schema() as update:
                update.union_by_name(schema)
            tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING:
                               tx.table_metadata.schema().name_mapping.model_dump_json()})
    return iceberg


def _commit_table(lake: Lake, iceberg: Table, table: str, identifier: str) -> TableCommit:
    present = _live_data_files(iceberg)
    base = lake_uri(lake)
    wanted = {f"{base}{path[len(lake.base):]}": path for path in lake.files(table)}
    removed = [data_file for location, data_file in present.items() if location not in wanted]
    new = sorted(location for location in wanted if location not in present)
    if not new and not removed:
        return TableCommit(identifier, 0, 0, len(present), None)
    added = _data_files(lake, iceberg, table, [(location, wanted[location]) for location in new])
    properties = {"ticklake.files-added": str(len(added)),
                  "ticklake.files-removed": str(len(removed))}
    with iceberg.transaction() as tx:
        update = tx.update_snapshot(snapshot_properties=properties)
        # Removing and adding in one overwrite: a reader sees the old files or the new, never
        # both. Appends merge small manifests (from 100 on), so frequent runs stay cheap to plan.
        with (update.overwrite() if removed else update.merge_append()) as producer:
            for data_file in removed:
                producer.delete_data_file(data_file)
            for data_file in added:
                producer.append_data_file(data_file)
    snapshot = iceberg.current_snapshot()
    return TableCommit(identifier, len(added), len(removed), len(wanted),
                       snapshot.snapshot_id if snapshot else None)


def _live_data_files(iceberg: Table) -> dict[str, DataFile]:
    snapshot = iceberg.current_snapshot()
    if snapshot is None:
        return {}
    out = {}
    for manifest in snapshot.manifests(iceberg.io):
        for entry in manifest.fetch_manifest_entry(iceberg.io, discard_deleted=True):
            if entry.data_file.content == DataFileContent.DATA:
                out[entry.data_file.file_path] = entry.data_file
    return out


def _data_files(
    lake: Lake, iceberg: Table, table: str, files: list[tuple[str, str]]
) -> list[DataFile]:
    """Data-file entries for (location, path on the lake's filesystem) pairs, footers only."""
    metadata = iceberg.metadata
    schema = metadata.schema()
    spec = metadata.spec()
    plan = compute_statistics_plan(schema, metadata.properties)
    mapping = parquet_path_to_id_mapping(schema)
    keys = PARTITIONS[table]
    date_at = keys.index("date")

    def entry(item: tuple[str, str]) -> DataFile:
        location, path = item
        values: list[object] = list(_partition_values(path, keys))
        values[date_at] = (dt.date.fromisoformat(str(values[date_at])) - _EPOCH).days
        with lake.filesystem.open_input_file(path) as source:
            size = source.size()
            footer = pq.read_metadata(source)
        statistics = data_file_statistics_from_parquet_metadata(footer, plan, mapping)
        return DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=location,
            file_format=FileFormat.PARQUET,
            partition=Record(*values),
            file_size_in_bytes=size,
            sort_order_id=None,
            spec_id=spec.spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )

    if len(files) <= 1:
        return [entry(item) for item in files]
    with ThreadPoolExecutor(min(_FOOTER_THREADS, len(files))) as pool:
        return list(pool.map(entry, files))


def _partition_values(path: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """``.../exchange=phemex/date=2026-11-25/part-...parquet`` → ("phemex", "2026-11-25")."""
    directories = path.split("/")[-len(keys) - 1 : -1]
    values = []
    for key, directory in zip(keys, directories, strict=True):
        name, _, value = directory.partition("=")
        if name != key:
            msg = f"{path} is not under {key}=...: not a lake file"
            raise IcebergError(msg)
        values.append(value)
    return tuple(values)


# -- errors --------------------------------------------------------------------------------


_CAUGHT = (OSError, ValueError, pa.ArrowException, CommitFailedException, NoSuchTableError,
           NoSuchNamespaceError, NotInstalledError, RESTError, SignError, ValidationException,
           ImportError)


_CLIENT_PACKAGES = frozenset({"sqlalchemy", "botocore", "boto3"})


@contextlib.contextmanager
def _errors(what: str, props: Mapping[str, str]) -> Iterator[None]:
    """Turn the catalog's and store's exceptions into one-line :class:`IcebergError`s."""
    secrets = [v for k, v in props.items() if v and any(w in k.lower() for w in _SECRET_WORDS)]
    secrets += [p for v in props.values() if (p := _uri_password(v))]
    try:
        yield
    except IcebergError:
        raise
    except Exception as exc:
        if not isinstance(exc, _CAUGHT) and not _is_client_error(exc):
            raise
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in secrets:
            text = text.replace(secret, "***")
        msg = f"{what}: {type(exc).__name__}: {text}"
        raise IcebergError(msg) from None


def _is_client_error(exc: BaseException) -> bool:
    """An error of the SQL catalog's database (SQLAlchemy) or of AWS's client (Glue, SigV4)."""
    return any(cls.__module__.split(".")[0] in _CLIENT_PACKAGES for cls in type(exc).__mro__)


def _uri_password(value: str) -> str | None:
    try:
        return urlsplit(value).password if "://" in value else None
    except ValueError:
        return None


def _redact_uri(uri: str) -> str:
    """A URI without its user:password part."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()
