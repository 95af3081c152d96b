"""Bulk ingestion and profile rebuild on all of Ta-Feng (818k lines), into a fresh store.

    python bench/ingest_bulk.py [--data ../shared/data] [--database-url URL]

Measures `kefu ingest`'s engine (FileImporter with the ta-feng preset) in rows/s, then a full profile rebuild,
and the peak memory of the process. Default store: a new SQLite file (synchronous=FULL, as served).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, peak_rss_mib, print_table, write_result  # noqa: E402
from features.ingest.events import EventIngestor  # noqa: E402
from features.ingest.files import FileImporter  # noqa: E402
from features.ingest.mapping import ColumnMapping  # noqa: E402
from features.profiles.service import ProfileService  # noqa: E402
from features.storage.engine import make_engine  # noqa: E402
from features.storage.migrate import upgrade  # noqa: E402
from features.storage.store import SqlStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    args = parser.parse_args()
    source = args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip"
    if not source.exists():
        sys.exit(f"Ta-Feng not found at {source}")
    tmp = Path(tempfile.mkdtemp(prefix="kefu-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'kefu.db'}"
    engine = make_engine(url)
    upgrade(engine)
    store = SqlStore(engine)
    importer = FileImporter(store, EventIngestor(store))

    report = importer.run(source, ColumnMapping.load("ta-feng"), rejects_path=tmp / "rejects.csv", chunk_size=args.chunk_size)
    started = time.perf_counter()
    stats = ProfileService(store).rebuild_all()
    rebuild_s = time.perf_counter() - started
    result = {
        "database": engine.dialect.name,
        "rows": report.rows,
        "accepted": report.accepted,
        "rejected": report.rejected,
        "ingest_seconds": round(report.seconds, 2),
        "ingest_rows_per_second": round(report.rows_per_second),
        "profiles": stats.customers,
        "profile_rebuild_seconds": round(rebuild_s, 2),
        "segments": stats.segments,
        "peak_rss_mib": round(peak_rss_mib()),
    }
    print_table([(k, str(v)) for k, v in result.items()])
    print("written", write_result(f"ingest_bulk_{engine.dialect.name}", result))


if __name__ == "__main__":
    main()
