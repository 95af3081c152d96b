"""`kefu evaluate recommender` with the store path's period count and prior weight set (session 17's check).

Needs `bench/tafeng_s17/weekly_periods.patch` applied (it adds `from_store.TRAIN_PERIODS`) and a data folder that
`bench/serve_recommend.py --data-dir DIR` has filled with Ta-Feng:

    KEFU_DATA_DIR=/tmp/kefu-tafeng python bench/tafeng_s17/cli_variant.py 8 0.25   # periods, prior weight
    KEFU_DATA_DIR=/tmp/kefu-tafeng python bench/tafeng_s17/cli_variant.py 1 0.1

The committed figure is `kefu evaluate recommender` on the same folder without the patch.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import models.recommend.from_store as from_store  # noqa: E402
from models.recommend.config import RecommendConfig  # noqa: E402
from service.cli.main import cli  # noqa: E402


def main() -> None:
    periods, weight = int(sys.argv[1]), float(sys.argv[2])
    from_store.TRAIN_PERIODS = periods
    from_store.train_recommender = functools.partial(from_store.train_recommender,
                                                     config=RecommendConfig(prior_weight=weight))
    cli(["evaluate", "recommender"], prog_name="kefu")


if __name__ == "__main__":
    main()
