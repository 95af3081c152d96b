"""What February 2001 repeats on Ta-Feng, and what a purchase line's units and price say about it.

    python bench/tafeng_s15/paid_signals.py --data ../shared/data

Session 15's look at the data before the units and price-paid features were added (models/recommend/features.py):
the share of each test customer's distinct February items bought before, NDCG@10 of "personal top frequent"
and of an oracle that ranks exactly the re-bought items first, and the chance that an item bought in one basket
before February is bought again in February, by the units taken and by the unit price paid against the item's
median. History is everything before 2001-02-01; customers are those with history who bought in February.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import DEFAULT_DATA  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    ev = load_ta_feng(args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip").events
    ev = ev.assign(day=pd.to_datetime(ev["ts"]).dt.tz_localize(None).dt.normalize(),
                   q=pd.to_numeric(ev["quantity"]), amt=pd.to_numeric(ev["amount"]))
    ev["unit"] = ev["amt"] / ev["q"].clip(lower=1)
    cut = pd.Timestamp("2001-02-01")
    hist, test = ev[ev["day"] < cut], ev[ev["day"] >= cut]
    truth = test[test["customer_id"].isin(set(hist["customer_id"]))][["customer_id", "item_id"]].drop_duplicates()
    n_truth = truth.groupby("customer_id").size()
    h = hist[hist["customer_id"].isin(n_truth.index)].merge(
        hist.groupby("item_id")["unit"].median().rename("median_unit"), on="item_id")
    h["paid_vs_median"] = h["unit"] / h["median_unit"]
    pairs = h.groupby(["customer_id", "item_id"]).agg(baskets=("day", "nunique"), units=("q", "sum"),
                                                     paid=("paid_vs_median", "min")).reset_index()
    pairs = pairs.merge(truth.assign(hit=1), on=["customer_id", "item_id"], how="left").fillna({"hit": 0})
    repeats = pairs.groupby("customer_id")["hit"].sum().reindex(n_truth.index, fill_value=0)
    print(f"{len(n_truth)} customers, {n_truth.mean():.1f} distinct February items each")
    print(f"share of February items bought before: {(repeats / n_truth).mean():.3f}; "
          f"customers re-buying nothing: {(repeats == 0).mean():.3f}")

    # personal top frequent (ties by popularity) and the oracle that puts the re-bought items first
    pop = hist.groupby("item_id").size()
    ranked = pairs.assign(pop=pairs["item_id"].map(pop)).sort_values(["customer_id", "baskets", "pop"],
                                                                     ascending=[True, False, False])
    ranked["rank"] = ranked.groupby("customer_id").cumcount()
    top = ranked[ranked["rank"] < 10]
    disc = 1 / np.log2(np.arange(2, 12))
    ideal = np.cumsum(disc)[np.minimum(n_truth, 10) - 1]
    dcg = (top["hit"] * disc[top["rank"]]).groupby(top["customer_id"]).sum().reindex(n_truth.index, fill_value=0)
    oracle = np.cumsum(np.r_[0, disc])[np.minimum(repeats, 10).astype(int)]
    print(f"NDCG@10 personal top frequent: {(dcg / ideal).mean():.4f}; oracle over re-bought items: "
          f"{(oracle / ideal).mean():.4f}")

    once = pairs[pairs["baskets"] == 1]
    print("\nbought in one basket before February: re-bought in February, by units taken")
    print(once.groupby(once["units"].clip(upper=4))["hit"].agg(["mean", "size"]).round(4).to_string())
    print("\nthe same, by the lowest unit price paid against the item's median")
    bands = pd.cut(once["paid"], [0, 0.8, 0.95, 1.05, np.inf])
    print(once.groupby(bands, observed=True)["hit"].agg(["mean", "size"]).round(4).to_string())


if __name__ == "__main__":
    main()
