"""Loaders turning the public evaluation datasets into kefu's frames (events, items, customers).

They mirror what the ingestion presets store (features/ingest/mapping.py), so a model evaluated here
sees the same columns the service will hand it; they read straight from the files to keep the benchmark
free of a database.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.events import EVENT_COLUMNS


@dataclass(frozen=True)
class Dataset:
    name: str
    events: pd.DataFrame
    items: pd.DataFrame
    customers: pd.DataFrame


def _events(frame: dict[str, object], n: int) -> pd.DataFrame:
    cols = {c: frame.get(c, pd.Series([None] * n, dtype=object)) for c in EVENT_COLUMNS}
    return pd.DataFrame(cols)


def load_ta_feng(path: str | Path) -> Dataset:
    """Ta-Feng line items as purchase events; one order per customer and day (the file has no order id).

    Item price is the median unit price (SALES_PRICE / AMOUNT) over the file, standing in for a
    catalogue price; category is PRODUCT_SUBCLASS; age band and region (PIN_CODE) describe customers.
    """
    raw = pd.read_csv(path, dtype=str)
    ts = pd.to_datetime(raw["TRANSACTION_DT"], format="%m/%d/%Y")
    qty = pd.to_numeric(raw["AMOUNT"], errors="coerce").astype(float)
    amount = pd.to_numeric(raw["SALES_PRICE"], errors="coerce").astype(float)
    customer = raw["CUSTOMER_ID"].str.strip()
    item = raw["PRODUCT_ID"].str.strip()
    events = _events({
        "event_id": pd.Series([f"ta_feng-{i}" for i in range(len(raw))]),
        "type": pd.Series(["purchase"] * len(raw)), "customer_id": customer, "ts": ts, "item_id": item,
        "order_id": customer + "-" + ts.dt.strftime("%Y%m%d"), "quantity": qty, "amount": amount,
        "currency": pd.Series(["TWD"] * len(raw)),
    }, len(raw))
    unit = (amount / qty.where(qty > 0)).groupby(item).median()
    first = raw.assign(item=item).drop_duplicates("item")
    items = pd.DataFrame({
        "item_id": first["item"].to_numpy(), "name": first["item"].to_numpy(),
        "category": first["PRODUCT_SUBCLASS"].to_numpy(),
        "price": unit.reindex(first["item"]).to_numpy(), "stock": np.nan, "active": True,
        "repeatable": True, "description": None,
    })
    last = raw.assign(customer=customer).drop_duplicates("customer", keep="last")
    customers = pd.DataFrame({"customer_id": last["customer"].to_numpy(), "age_band": last["AGE_GROUP"].to_numpy(),
                              "region": last["PIN_CODE"].to_numpy()})
    return Dataset("ta-feng", events, items, customers)


def load_movielens(folder: str | Path) -> Dataset:
    """MovieLens-100K ratings as interactions; a movie is watched once, so items are not repeatable.

    Each rating (any value) becomes a ``purchase`` event: rating a film means having watched it, which is
    the implicit-feedback reading used by the baselines too. Category = the film's first listed genre;
    customers carry an age band (decade) and region (first zip digit).
    """
    folder = Path(folder)
    raw = pd.read_csv(folder / "u.data", sep="\t", header=None, names=["u", "i", "r", "t"], dtype=str)
    ts = pd.to_datetime(pd.to_numeric(raw["t"]), unit="s")
    events = _events({
        "event_id": pd.Series([f"ml-{i}" for i in range(len(raw))]), "type": pd.Series(["purchase"] * len(raw)),
        "customer_id": raw["u"], "ts": ts, "item_id": raw["i"], "quantity": pd.Series(np.ones(len(raw))),
        "amount": pd.Series(np.full(len(raw), np.nan)),
    }, len(raw))
    genres = pd.read_csv(folder / "u.genre", sep="|", header=None, names=["name", "id"], encoding="latin-1")
    genre_names = genres.dropna()["name"].tolist()
    cols = ["item_id", "title", "release", "video", "url", *genre_names]
    movies = pd.read_csv(folder / "u.item", sep="|", header=None, names=cols, encoding="latin-1", dtype=str)
    flags = movies[genre_names].astype(int).to_numpy()
    first_genre = np.where(flags.any(axis=1), np.array(genre_names, dtype=object)[flags.argmax(axis=1)], None)
    all_genres = [", ".join(g for g, f in zip(genre_names, row) if f) for row in flags]
    items = pd.DataFrame({
        "item_id": movies["item_id"].to_numpy(), "name": movies["title"].to_numpy(), "category": first_genre,
        "price": np.nan, "stock": np.nan, "active": True, "repeatable": False,
        "description": [f"{t}. Genres: {g}." for t, g in zip(movies["title"], all_genres)],
    })
    users = pd.read_csv(folder / "u.user", sep="|", header=None, names=["u", "age", "sex", "job", "zip"], dtype=str)
    age = pd.to_numeric(users["age"], errors="coerce")
    customers = pd.DataFrame({"customer_id": users["u"].to_numpy(),
                              "age_band": (age // 10 * 10).astype("Int64").astype(str).to_numpy(),
                              "region": users["zip"].str[:1].to_numpy()})
    return Dataset("movielens-100k", events, items, customers)
