"""Import CSV / Parquet / JSONL files in chunks: map columns, check rows, store the good ones, report the bad.

Rejected rows are written, with their row number and reason, to a reject file (CSV) so nothing is silently
lost; good rows go through the same ``EventIngestor`` as HTTP events.
"""
from __future__ import annotations

import csv
import io
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from features.events import CHAT_FIELDS, CUSTOMER_FIELDS, EVENT_COLUMNS, ITEM_FIELDS
from features.ingest.events import EventIngestor
from features.ingest.mapping import ColumnMapping
from features.ingest.validate import check_events, parse_timestamps

log = logging.getLogger(__name__)

CSV_SUFFIXES = {".csv", ".tsv", ".txt", ".data", ".gz", ".zip", ".bz2", ".xz"}
JSON_SUFFIXES = {".jsonl", ".ndjson", ".json"}
PARQUET_SUFFIXES = {".parquet", ".pq"}


@dataclass
class ImportReport:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    customers_upserted: int = 0
    items_upserted: int = 0
    seconds: float = 0.0
    rejects_path: str | None = None
    customers_touched: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if any(s in PARQUET_SUFFIXES for s in suffixes):
        return "parquet"
    if any(s in JSON_SUFFIXES for s in suffixes):
        return "jsonl"
    return "csv"


def _open_text(path: Path):
    if path.suffix.lower() == ".zip":
        archive = zipfile.ZipFile(path)
        name = next(n for n in archive.namelist() if not n.endswith("/"))
        return io.TextIOWrapper(archive.open(name), encoding="utf-8", errors="replace")
    import gzip, bz2, lzma  # noqa: E401 - only for compressed inputs

    openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    opener = openers.get(path.suffix.lower())
    return opener(path, "rt", encoding="utf-8", errors="replace") if opener else open(path, encoding="utf-8", errors="replace")


def sniff_separator(path: Path) -> str:
    """',' ';' tab or '|', judged from the first lines (so ';'-separated files need no flag)."""
    with _open_text(path) as handle:
        sample = "".join(handle.readline() for _ in range(5))
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def count_rows(path: Path) -> int | None:
    """Data rows in a file (for the progress bar); None when counting would cost a full parse."""
    fmt = _format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with _open_text(path) as handle:
        lines = sum(1 for _ in handle)
    return max(lines - (1 if fmt == "csv" else 0), 0)


def read_chunks(path: Path, chunk_size: int, read_options: dict[str, Any] | None = None) -> Iterator[pd.DataFrame]:
    options = dict(read_options or {})
    fmt = _format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_size):
            yield batch.to_pandas()
        return
    if fmt == "jsonl":
        yield from pd.read_json(path, lines=True, chunksize=chunk_size, dtype=False, **options)
        return
    options.setdefault("sep", sniff_separator(path))
    options.setdefault("compression", "infer")
    yield from pd.read_csv(path, chunksize=chunk_size, keep_default_na=True, **options)


def _none_for_nan(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None)


def _missing(frame: pd.DataFrame, columns: set[str]) -> list[str]:
    return sorted(c for c in columns if c not in frame.columns)


class FileImporter:
    def __init__(self, store, ingestor: EventIngestor) -> None:
        self.store = store
        self.ingestor = ingestor

    def run(
        self,
        path: str | Path,
        mapping: ColumnMapping,
        *,
        rejects_path: str | Path | None = None,
        chunk_size: int = 50_000,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(path)
        rejects_path = Path(rejects_path) if rejects_path else path.with_name(path.name + ".rejects.csv")
        if rejects_path.exists():
            rejects_path.unlink()
        report = ImportReport()
        started = time.perf_counter()
        price_sums: dict[str, list[float]] = {}
        offset = 0
        for chunk in read_chunks(path, chunk_size, mapping.read_options):
            missing = _missing(chunk, mapping.source_columns())
            if missing:
                raise ValueError(f"{path.name} has no column(s) {missing}; it has {list(chunk.columns)}")
            chunk.index = pd.RangeIndex(offset + 1, offset + 1 + len(chunk))  # 1-based data row numbers
            offset += len(chunk)
            if mapping.kind == "events":
                self._events_chunk(chunk, mapping, path, report, rejects_path, price_sums)
            else:
                self._entities_chunk(chunk, mapping, report, rejects_path)
            report.rows += len(chunk)
            if progress:
                progress(len(chunk))
        if price_sums:
            prices = [{"item_id": i, "price": round(a / q, 4)} for i, (a, q) in price_sums.items() if q > 0]
            report.items_upserted += self.store.upsert_items(prices)
        report.seconds = time.perf_counter() - started
        report.rejects_path = str(rejects_path) if report.rejected else None
        return report

    # -- events ------------------------------------------------------------------------------------------------
    def _canonical_events(self, chunk: pd.DataFrame, mapping: ColumnMapping, path: Path) -> pd.DataFrame:
        frame = pd.DataFrame(index=chunk.index)
        for target, source in mapping.columns.items():
            frame[target] = chunk[source]
        for target, value in mapping.constants.items():
            frame[target] = value
        if "event_id" not in frame:
            frame["event_id"] = path.name.split(".")[0] + "-" + chunk.index.astype(str)
        for column in ("event_id", "customer_id", "item_id", "order_id", "device_id"):
            if column in frame:
                frame[column] = frame[column].astype("string").str.strip()
        frame["ts"] = parse_timestamps(frame.pop("timestamp"), mapping.timestamp_format) if "timestamp" in frame else pd.NaT
        for column in (*EVENT_COLUMNS, *CHAT_FIELDS):
            if column not in frame:
                frame[column] = None
        if mapping.properties:
            props = chunk[list(mapping.properties.values())].rename(columns={v: k for k, v in mapping.properties.items()})
            frame["properties"] = props.to_dict("records")
        return frame

    def _events_chunk(self, chunk, mapping, path, report, rejects_path, price_sums) -> None:
        frame = self._canonical_events(chunk, mapping, path)
        reasons = check_events(frame)
        bad = reasons != ""
        if bad.any():
            self._write_rejects(chunk[bad], reasons[bad], rejects_path)
            report.rejected += int(bad.sum())
        good = frame[~bad]
        if good.empty:
            return
        good_rows = chunk.loc[good.index]
        if mapping.customer_columns:
            attrs = good_rows[list(mapping.customer_columns.values())].copy()
            attrs.columns = list(mapping.customer_columns)
            attrs["customer_id"] = good["customer_id"].to_numpy()
            attrs = attrs.drop_duplicates("customer_id", keep="last")
            report.customers_upserted += self.store.upsert_customers(_none_for_nan(attrs).to_dict("records"))
        if mapping.item_columns or mapping.item_constants:
            attrs = good_rows[list(mapping.item_columns.values())].copy()
            attrs.columns = list(mapping.item_columns)
            attrs["item_id"] = good["item_id"].to_numpy()
            for name, value in mapping.item_constants.items():
                attrs[name] = value
            attrs = attrs.dropna(subset=["item_id"]).drop_duplicates("item_id", keep="last")
            report.items_upserted += self.store.upsert_items(_none_for_nan(attrs).to_dict("records"))
        numeric = good.copy()
        numeric["amount"] = pd.to_numeric(numeric["amount"], errors="coerce")
        numeric["quantity"] = pd.to_numeric(numeric["quantity"], errors="coerce")
        if mapping.item_price_from == "unit_amount":
            sub = numeric[(numeric["type"] == "purchase") & numeric["quantity"].gt(0) & numeric["amount"].notna()]
            sums = sub.groupby("item_id")[["amount", "quantity"]].sum()
            for item_id, (amount, quantity) in zip(sums.index, sums.to_numpy()):
                acc = price_sums.setdefault(item_id, [0.0, 0.0])
                acc[0] += float(amount)
                acc[1] += float(quantity)
        if "is_fraud" in mapping.columns:
            numeric["is_fraud"] = numeric["is_fraud"].map(_to_bool)
        records = _records(numeric)
        outcome = self.ingestor.ingest(records, refresh_profiles=False)
        report.accepted += outcome.accepted
        report.duplicates += outcome.duplicates
        report.customers_touched += len(outcome.customers)

    # -- customers / items ----------------------------------------------------------------------------------
    def _entities_chunk(self, chunk, mapping, report, rejects_path) -> None:
        key = "customer_id" if mapping.kind == "customers" else "item_id"
        fields = CUSTOMER_FIELDS if mapping.kind == "customers" else ITEM_FIELDS
        frame = pd.DataFrame(index=chunk.index)
        for target, source in mapping.columns.items():
            frame[target] = chunk[source]
        for target, value in mapping.constants.items():
            frame[target] = value
        if key not in frame:
            raise ValueError(f"the mapping must name a column for {key}")
        frame[key] = frame[key].astype("string").str.strip()
        reasons = pd.Series("", index=frame.index, dtype="object")
        reasons[frame[key].isna() | (frame[key] == "")] = f"{key} is missing"
        if "price" in frame:
            price = pd.to_numeric(frame["price"], errors="coerce")
            reasons[(reasons == "") & frame["price"].notna() & (price.isna() | (price < 0))] = "price is not a non-negative number"
            frame["price"] = price
        if "stock" in frame:
            stock = pd.to_numeric(frame["stock"], errors="coerce")
            reasons[(reasons == "") & frame["stock"].notna() & (stock.isna() | (stock < 0))] = "stock is not a non-negative number"
            frame["stock"] = stock.round().astype("Int64")
        for flag in ("active", "repeatable"):
            if flag in frame:
                frame[flag] = frame[flag].map(_to_bool)
        if "signup_at" in frame:
            frame["signup_at"] = parse_timestamps(frame["signup_at"], None).astype(object)
        bad = reasons != ""
        if bad.any():
            self._write_rejects(chunk[bad], reasons[bad], rejects_path)
            report.rejected += int(bad.sum())
        good = frame[~bad][[c for c in fields if c in frame]]
        upsert = self.store.upsert_customers if mapping.kind == "customers" else self.store.upsert_items
        count = upsert(_none_for_nan(good).to_dict("records"))
        if mapping.kind == "customers":
            report.customers_upserted += count
        else:
            report.items_upserted += count
        report.accepted += count

    @staticmethod
    def _write_rejects(rows: pd.DataFrame, reasons: pd.Series, path: Path) -> None:
        out = rows.copy()
        out.insert(0, "_reason", reasons.to_numpy())
        out.insert(0, "_row", rows.index.to_numpy())
        out.to_csv(path, mode="a", header=not path.exists(), index=False)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with None for missing values; per column, several times faster than DataFrame.to_dict."""
    columns = []
    for name in frame.columns:
        series = frame[name]
        if pd.api.types.is_datetime64_any_dtype(series):
            values = [None if pd.isna(v) else v for v in series.dt.to_pydatetime()]
        else:
            values = series.astype(object).where(series.notna(), None).tolist()
        columns.append(values)
    keys = list(frame.columns)
    return [dict(zip(keys, row)) for row in zip(*columns)]


def _to_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "t"}:
        return True
    if text in {"0", "false", "no", "n", "f"}:
        return False
    return None


def read_table(path: str | Path, **options: Any) -> pd.DataFrame:
    """A whole CSV (separator detected, compression inferred), Parquet or JSONL file as one DataFrame."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    fmt = _format(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=False, **options)
    options.setdefault("sep", sniff_separator(path))
    return pd.read_csv(path, **options)
