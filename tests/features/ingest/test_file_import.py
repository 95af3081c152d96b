"""kefu's file importer: mappings, separators, formats, rejects, idempotency, real Ta-Feng lines."""
from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest

from features.ingest.events import EventIngestor
from features.ingest.files import FileImporter, count_rows
from features.ingest.mapping import ColumnMapping


@pytest.fixture
def importer(store):
    return FileImporter(store, EventIngestor(store))


TAFENG_HEAD = """TRANSACTION_DT,CUSTOMER_ID,AGE_GROUP,PIN_CODE,PRODUCT_SUBCLASS,PRODUCT_ID,AMOUNT,ASSET,SALES_PRICE
11/1/2000,01104905,45-49,115,110411,4710199010372,2,24,30
11/1/2000,00418683,45-49,115,120107,4710857472535,1,48,46
11/1/2000,01057331,35-39,115,100407,4710043654103,2,142,166
13/45/2000,01057331,35-39,115,100407,4710043654103,2,142,166
11/2/2000,01104905,45-49,115,110411,4710199010372,1,12,15
11/2/2000,,45-49,115,110411,4710199010372,1,12,15
"""


def test_ta_feng_layout_loads_with_its_preset(tmp_path, importer, store):
    path = tmp_path / "ta_feng.csv.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ta_feng.csv", TAFENG_HEAD)
    assert count_rows(path) == 6
    report = importer.run(path, ColumnMapping.load("ta-feng"))
    assert (report.rows, report.accepted, report.rejected) == (6, 4, 2)
    rejects = pd.read_csv(report.rejects_path, dtype=str)
    assert rejects["_row"].tolist() == ["4", "6"]
    assert rejects["_reason"].tolist() == ["timestamp is missing or not a date", "customer_id is missing"]
    events = store.load_events(["01104905"]).sort_values("ts")
    assert events["amount"].tolist() == [30.0, 15.0] and events["quantity"].tolist() == [2.0, 1.0]
    assert store.get_customer("01104905")["age_band"] == "45-49"  # leading zeros kept
    items = store.load_items().set_index("item_id")
    assert items.loc["4710199010372", "category"] == "110411"
    assert items.loc["4710199010372", "price"] == pytest.approx(45 / 3)  # spend / units
    assert items["repeatable"].all()  # the preset marks groceries as re-bought
    again = importer.run(path, ColumnMapping.load("ta-feng"))
    assert (again.accepted, again.duplicates) == (0, 4)
    assert store.count("events") == 4


def test_semicolon_file_without_mapping_uses_kefu_names(tmp_path, importer, store):
    path = tmp_path / "events.csv"
    path.write_text("event_id;type;customer_id;timestamp;amount;currency;is_fraud\n"
                    "a;payment;c1;2026-05-01T10:00:00Z;12.5;USD;1\n"
                    "b;payment;c1;2026-05-01T11:00:00+01:00;3;usd;0\n")
    mapping = ColumnMapping(kind="events", columns={c: c for c in
                                                    ["event_id", "type", "customer_id", "timestamp", "amount", "currency", "is_fraud"]})
    report = importer.run(path, mapping)
    assert (report.accepted, report.rejected) == (1, 1)
    assert "currency" in pd.read_csv(report.rejects_path)["_reason"][0]
    tx = store.load_events(["c1"])
    assert bool(tx.is_fraud.iloc[0]) is True and store.count("transactions") == 1


def test_jsonl_and_parquet_load_the_same(tmp_path, importer, store):
    rows = [{"event_id": f"j{i}", "type": "view", "customer_id": "c1", "item_id": "p1",
             "timestamp": f"2026-05-0{i + 1}T00:00:00Z"} for i in range(3)]
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    mapping = ColumnMapping(kind="events", columns={c: c for c in rows[0]})
    assert importer.run(jsonl, mapping).accepted == 3
    parquet = tmp_path / "e.parquet"
    pd.DataFrame([{**r, "event_id": "q" + r["event_id"]} for r in rows]).to_parquet(parquet)
    assert importer.run(parquet, mapping).accepted == 3
    assert store.count("events") == 6


def test_items_file_with_rejects(tmp_path, importer, store):
    path = tmp_path / "items.csv"
    path.write_text("sku,title,cat,price,stock,repeat\nA,Tea,drinks,3.5,10,yes\nB,Mug,home,-1,2,no\n,Nothing,x,1,1,no\n")
    mapping = ColumnMapping(kind="items", columns={"item_id": "sku", "name": "title", "category": "cat",
                                                   "price": "price", "stock": "stock", "repeatable": "repeat"})
    report = importer.run(path, mapping)
    assert (report.accepted, report.rejected) == (1, 2)
    item = store.load_items().set_index("item_id").loc["A"]
    assert (item["name"], item["price"], bool(item["repeatable"])) == ("Tea", 3.5, True)


def test_mapping_errors_are_clear(tmp_path, importer):
    with pytest.raises(ValueError, match="unknown events fields"):
        ColumnMapping(kind="events", columns={"colour": "x"})
    with pytest.raises(ValueError, match="no mapping preset or file"):
        ColumnMapping.load("nope")
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="has no column"):
        importer.run(path, ColumnMapping.load("ta-feng"))


def test_real_ta_feng_lines(shared_data, tmp_path, importer, store):
    source = shared_data / "recommend" / "ta-feng" / "ta_feng.csv.zip"
    with zipfile.ZipFile(source) as z:
        name = z.namelist()[0]
        with z.open(name) as f:
            head = b"".join(f.readline() for _ in range(3001))
    path = tmp_path / "ta_feng_head.csv"
    path.write_bytes(head)
    report = importer.run(path, ColumnMapping.load("ta-feng"))
    assert report.rows == 3000
    assert report.accepted + report.rejected == 3000 and report.accepted > 2900
