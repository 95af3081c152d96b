"""CLI: `kefu recommend --out FILE`, top-k lists for every (or the listed) customers, e.g. for an e-mail campaign.

Every list written is logged with channel ``campaign`` (features.storage.recommend_log), so
GET /v1/recommendations/performance measures what the customers did after the campaign. Each list's
``recommendation_id`` is a column of the file, for the campaign tool to carry. The file is written under a
temporary name first, the lists are logged in chunks (one transaction each, all with the time the file was
made), and only then is the file renamed to ``--out``: a file that exists holds only logged lists. ``--no-log``
logs nothing (a dry run) and leaves the ``recommendation_id`` column empty. ``--promotion-name`` with
``--promote-item`` / ``--promote-category`` keeps places in every list for a promotion (service.pipelines.recommend);
without them, the scheduled promotion live on the ``campaign`` channel when the run starts applies to every list
(service.pipelines.promotions), and ``--no-promotion`` applies none.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from features.storage.recommend_log import list_row
from features.storage.store import utcnow
from service.cli.models import _state
from service.cli.options import load_options
from service.ids import uuid7_hex

CHANNEL = "campaign"
LOG_CHUNK = 1_000       # lists per log transaction


def _promotion(name: str | None, items: tuple[str, ...], categories: tuple[str, ...],
               share: float | None) -> dict | None:
    """The options as the API's promotion, checked by the same schema; None without any promotion option."""
    if name is None and not items and not categories and share is None:
        return None
    from service.schemas.recommend import PromotionSchema

    return load_options(PromotionSchema(), {"name": name, "items": list(items), "categories": list(categories),
                                            "share": share}, "promotion",
                        "; give --promotion-name with --promote-item and/or --promote-category")


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV or JSONL to write.")
@click.option("--customer", "customers", multiple=True, help="Only these customers (repeat); default: every customer.")
@click.option("--k", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--no-log", is_flag=True,
              help="Do not log the lists (a dry run): GET /v1/recommendations/performance will not see them and the "
                   "recommendation_id column stays empty.")
@click.option("--promotion-name", default=None,
              help="Keep places in every list for a promotion, named so in the reasons ('featured in NAME').")
@click.option("--promote-item", "promote_items", multiple=True, help="A promoted item (repeat).")
@click.option("--promote-category", "promote_categories", multiple=True, help="A promoted category (repeat).")
@click.option("--promotion-share", type=float, default=None,
              help="Share of the k places the promotion keeps (default 0.2; at least one place).")
@click.option("--no-promotion", is_flag=True,
              help="No promotion, not even the scheduled one live on the campaign channel.")
def recommend(out: Path, customers: tuple[str, ...], k: int, no_log: bool, promotion_name: str | None,
              promote_items: tuple[str, ...], promote_categories: tuple[str, ...],
              promotion_share: float | None, no_promotion: bool) -> None:
    """Write top-k recommendations for every (or the listed) customers, e.g. for an e-mail campaign.

    Each list is logged with channel campaign (unless --no-log) and its recommendation_id is a column of the
    file. With a promotion (the options', else the scheduled one live on the campaign channel), every list keeps
    places for it as POST /v1/recommendations does, and the file has a promoted column."""
    promotion = _promotion(promotion_name, promote_items, promote_categories, promotion_share)
    if promotion is not None and no_promotion:
        raise click.UsageError("--no-promotion and a promotion's options exclude each other")
    state = _state()
    service = state.extras["recommend"]
    if promotion is None and not no_promotion and service.promotions is not None:
        promotion = service.promotions.current(CHANNEL)     # once: the whole file gets the same promotion
        if promotion is not None:
            click.echo(f"scheduled promotion '{promotion['name']}' applies to every list", err=True)
    ids = list(customers) or [c for batch in state.store.iter_customer_ids() for c in batch]
    rows, answers = [], []
    for customer_id in tqdm(ids, desc="recommend", unit="customers", file=sys.stderr):
        answer = service.recommend(customer_id, k, promotion=promotion)
        if not answer["items"]:
            continue                                  # nothing shown, nothing to measure
        recommendation_id = None if no_log else uuid7_hex()
        for rank, item in enumerate(answer["items"], 1):
            rows.append({"customer_id": customer_id, "rank": rank, **item, "strategy": answer["strategy"],
                         "model_version": answer["model_version"], "recommendation_id": recommendation_id})
        answers.append((recommendation_id, answer))
    import pandas as pd

    frame = pd.DataFrame(rows)
    partial = out.with_name(f".{out.name}.partial")
    if out.suffix.lower() in {".jsonl", ".ndjson"}:
        frame.to_json(partial, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(partial, index=False)
    made = utcnow()
    logged = 0
    if not no_log:
        store = state.extras["recommend_log"].store
        try:
            for start in range(0, len(answers), LOG_CHUNK):
                chunk = answers[start:start + LOG_CHUNK]
                store.record([list_row(rid, answer, channel=CHANNEL, created_at=made) for rid, answer in chunk])
                logged += len(chunk)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            raise click.ClickException(
                f"logging the lists failed after {logged} of {len(answers)} ({exc}); {out} was not written. "
                f"The {logged} logged lists (channel {CHANNEL}, created_at {made.isoformat()}) were never sent.")
    os.replace(partial, out)
    click.echo(f"{len(frame)} recommendations for {len(ids)} customers → {out}")
    click.echo(f"{len(answers)} lists not logged (--no-log)" if no_log else
               f"{logged} lists logged with channel {CHANNEL} (GET /v1/recommendations/performance?channel={CHANNEL})")
