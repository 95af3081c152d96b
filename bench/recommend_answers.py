"""Recommendation answers for a fixed set of varied request bodies, saved or compared: the check that a speed
change to the serving path changed no answer.

    python bench/recommend_answers.py --data-dir DIR --out before.json            # with the old code
    python bench/recommend_answers.py --data-dir DIR --out after.json --against before.json

DIR is a KEFU_DATA_DIR with Ta-Feng ingested and a recommender trained (see bench/recommend_request_cpu.py). The
bodies mix customers with purchases (as serve_recommend sends them), k of 1 to 50, category and price filters,
excluded items, a context item, an unknown customer with and without a segment. Each answer is the JSON the API
returns; ``--against`` counts the answers whose items (ids, order, sources, reasons) are identical and reports the
largest score difference of the identical ones.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(os.environ.get("REPO", Path(__file__).resolve().parents[1])).resolve()
sys.path.insert(0, str(ROOT))

from bench.common import print_table, spread_buyers  # noqa: E402


def bodies(store, n_customers: int) -> list[dict]:
    """Deterministic varied bodies over the shop's buyers and catalogue."""
    customers = spread_buyers(store, n_customers)
    items = store.load_items()
    categories = sorted(items["category"].dropna().astype(str).unique().tolist())
    ids = items["item_id"].astype(str).tolist()
    prices = items["price"].dropna()
    low, high = float(prices.quantile(0.25)), float(prices.quantile(0.75))
    out: list[dict] = []
    for n, customer in enumerate(customers):
        out.append({"customer_id": customer, "k": 10})
        variant = n % 5
        if variant == 0:
            out.append({"customer_id": customer, "k": 1 + n % 50})
        elif variant == 1:
            out.append({"customer_id": customer, "k": 20, "filters": {"categories": categories[n % len(categories)::7][:20]}})
        elif variant == 2:
            out.append({"customer_id": customer, "k": 10, "filters": {"price_min": low, "price_max": high,
                                                                        "exclude_categories": categories[:: 11][:60]}})
        elif variant == 3:
            out.append({"customer_id": customer, "k": 10, "filters": {"exclude_items": ids[n:: 997][:30]},
                        "context": {"item_id": ids[(n * 31) % len(ids)]}})
        else:
            out.append({"customer_id": f"{customer}-unknown", "k": 10})
    out.append({"customer_id": "nobody-at-all", "k": 10, "segment": {"age_band": "30-34"}})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=250)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--against", type=Path)
    args = parser.parse_args()
    os.environ.update(KEFU_DATA_DIR=str(args.data_dir.resolve()), KEFU_LOG_LEVEL="WARNING", OMP_NUM_THREADS="1")

    from service.app import create_app
    from service.auth import create_api_key

    app = create_app()
    store = app.extensions["kefu"].store
    key = create_api_key(store, ["recommendations"], name="bench recommend_answers")
    client = app.test_client()
    answers = []
    for body in bodies(store, args.customers):
        response = client.post("/v1/recommendations", json=body, headers={"Authorization": f"Bearer {key}"})
        answers.append({"body": body, "status": response.status_code, "answer": response.get_json()})
    args.out.write_text(json.dumps(answers, indent=1))
    results: dict = {"bodies": len(answers), "written": str(args.out),
                     "non_200": sum(a["status"] != 200 for a in answers)}
    if args.against:
        before = json.loads(args.against.read_text())
        same, worst = 0, 0.0
        for old, new in zip(before, answers, strict=True):
            if old["body"] != new["body"]:
                raise SystemExit("the two files hold different bodies")
            strip = [[{k: v for k, v in item.items() if k != "score"} for item in a["answer"].get("items", [])]
                     for a in (old, new)]
            if old["status"] == new["status"] and strip[0] == strip[1]:
                same += 1
                for a, b in zip(old["answer"].get("items", []), new["answer"].get("items", [])):
                    worst = max(worst, abs(a["score"] - b["score"]))
        results.update(identical=same, differing=len(answers) - same, max_score_difference=worst)
    print_table([(k, json.dumps(v)) for k, v in results.items()])


if __name__ == "__main__":
    main()
