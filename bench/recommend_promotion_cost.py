"""What a promotion adds to one recommendation, in process: the demo shop, the same 200 buyers in turn.

    python bench/recommend_promotion_cost.py

A request with a promotion asks the ranker for all its candidates instead of 8k (the promoted items may rank
anywhere) and ranks the listed items too; this measures `RecommendationService.recommend` (reads, ranking, rules,
reasons) with no promotion, 40 listed items, and one promoted category, each sent with the request, and then
the same 40 items as a scheduled promotion (service.pipelines.promotions: looked up per request).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_result  # noqa: E402


def main() -> None:
    from features.text.embedder import make_embedder
    from service.api.recommendations import _service
    from service.app import create_app
    from service.demo import load_shop_into
    from service.pipelines.recommend import train_and_register

    folder = Path(tempfile.mkdtemp())
    app = create_app({"database_url": f"sqlite:///{folder / 'kefu.db'}", "data_dir": str(folder / "data"),
                      "log_level": "WARNING"}, embedder=make_embedder("e5", cache_entries=1000))
    state = app.extensions["kefu"]
    load_shop_into(state, n_customers=2000, seed=1, echo=lambda _: None)
    state.extras["profiles"].rebuild_all()
    train_and_register(state)
    catalogue = state.store.load_items()
    customers = list(state.store.load_events(types=["purchase"]).customer_id.unique()[:200])
    listed = {"name": "s", "items": list(catalogue.item_id[:40]), "share": 0.2}
    promotions = {"none": {"promotion": None},
                  "nothing scheduled (the default lookup)": {},
                  "40 listed items, share 0.2": {"promotion": listed},
                  "one category, share 0.3": {"promotion": {"name": "s", "categories": [catalogue.category.iloc[0]],
                                                            "share": 0.3}},
                  "the 40 items scheduled": {}}
    result: dict = {"command": "python bench/recommend_promotion_cost.py", "customers": len(customers),
                    "items": len(catalogue)}
    with app.app_context():
        service = _service()
        for c in customers[:20]:
            service.recommend(c, 10)
        for label, given in promotions.items():
            if label == "the 40 items scheduled":
                service.promotions.put("s", {**listed, "channels": ["api"], "priority": 0})
            times = []
            for c in customers:
                t = time.perf_counter()
                answer = service.recommend(c, 10, **given)
                times.append(time.perf_counter() - t)
            assert (answer.get("promotion") == "s") == (label not in ("none", "nothing scheduled (the default lookup)"))
            times.sort()
            result[label] = {"p50_ms": round(1000 * times[len(times) // 2], 2),
                             "p99_ms": round(1000 * times[int(len(times) * 0.99)], 2)}
            print(f"{label}: p50 {result[label]['p50_ms']} ms, p99 {result[label]['p99_ms']} ms")
    write_result("recommend_promotion_cost", result)


if __name__ == "__main__":
    main()
