"""CLI: `kefu promotions list|set|delete`, the scheduled promotions (the same checks as PUT /v1/promotions)."""
from __future__ import annotations

import json

import click

from features.storage.recommend_log import CHANNELS
from features.storage.store import utcnow
from service.cli.models import _state
from service.cli.options import load_options


def _scheduled():
    return _state().extras["recommend"].promotions


def _line(row: dict, now) -> str:
    from service.pipelines.promotions import is_live

    what = ", ".join([*(f"item {i}" for i in row["items"][:5]), *(f"category {c}" for c in row["categories"][:5])])
    more = len(row["items"]) + len(row["categories"]) - min(len(row["items"]), 5) - min(len(row["categories"]), 5)
    window = f"{row['starts_at'] or row['created_at']:%Y-%m-%d %H:%M} → " + \
        (f"{row['ends_at']:%Y-%m-%d %H:%M}" if row["ends_at"] else "open")
    return (f"{row['name']:<24} {'live' if is_live(row, now) else '-':<5} share {row['share']:.2f}  "
            f"priority {row['priority']:>4}  {','.join(row['channels']):<17} {window}  "
            f"{what}{f' (+{more} more)' if more else ''}")


@click.group()
def promotions() -> None:
    """Promotions scheduled once: while live, every recommendation list on their channels keeps places for them."""


@promotions.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def promotions_list(as_json: bool) -> None:
    """Every scheduled promotion, ended ones included."""
    rows = _scheduled().store.all()
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no promotions (kefu promotions set NAME --item ID --category C)")
    now = utcnow()
    for row in rows:
        click.echo(_line(row, now))


@promotions.command("set")
@click.argument("name")
@click.option("--item", "items", multiple=True, help="A promoted item (repeat).")
@click.option("--category", "categories", multiple=True, help="A promoted category (repeat).")
@click.option("--share", type=float, default=None, help="Share of the k places it keeps (default 0.2; at least one).")
@click.option("--channel", "channels", multiple=True, type=click.Choice(CHANNELS),
              help="Where it applies (repeat; default: api, chat and campaign).")
@click.option("--priority", type=int, default=None, help="The highest live priority wins a list (default 0).")
@click.option("--starts", default=None, help="ISO time it goes live (default now; UTC unless an offset is given).")
@click.option("--ends", default=None, help="ISO time it ends (default: until deleted).")
def promotions_set(name: str, items: tuple[str, ...], categories: tuple[str, ...], share: float | None,
                   channels: tuple[str, ...], priority: int | None, starts: str | None, ends: str | None) -> None:
    """Schedule the promotion NAME, or replace it."""
    from service.schemas.promotions import PromotionPathSchema, ScheduledPromotionRequestSchema

    load_options(PromotionPathSchema(), {"name": name}, "promotion name")
    body = load_options(ScheduledPromotionRequestSchema(), {
        "items": list(items), "categories": list(categories), "share": share, "channels": list(channels),
        "priority": priority, "starts_at": starts, "ends_at": ends}, "promotion")
    row = _scheduled().put(name, body, by="cli")
    click.echo(_line(row, utcnow()))


@promotions.command("delete")
@click.argument("name")
def promotions_delete(name: str) -> None:
    """Delete the promotion NAME: it stops at once."""
    if not _scheduled().delete(name):
        raise click.ClickException(f"no promotion named '{name}'")
    click.echo(f"deleted {name}")
