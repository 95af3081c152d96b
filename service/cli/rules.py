"""CLI: `kefu rules list|backtest`, the risk team's decision rules (saved through PUT /v1/risk/rules/{name})."""
from __future__ import annotations

import json
from pathlib import Path

import click

from service.cli.models import _state


def _rules():
    return _state().extras["risk"].rules


@click.group()
def rules() -> None:
    """Decision rules on top of the risk models: list them, back-test one on the stored cases."""


@rules.command("list")
@click.option("--model", default=None, help="One model's rules.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def rules_list(model: str | None, as_json: bool) -> None:
    """Every decision rule, disabled and expired ones included."""
    rows = _rules().store.rules(model=model)
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no decision rules (PUT /v1/risk/rules/{name})")
    for r in rows:
        when = " and ".join(f"{c['field']} {c['op']} {c['value']}" for c in r["when"])
        state = "on" if r["enabled"] else "off"
        click.echo(f"{r['name']:<24} {r['model']:<16} {state:<3} {r['action']:<7} when {when}")


@rules.command("backtest")
@click.argument("name")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366),
              help="Test on the model's cases of the last this many days.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG of the daily series.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
def rules_backtest(name: str, days: int, plot: Path | None, as_json: bool) -> None:
    """What the saved rule NAME (enabled or not) would have done to its model's stored cases."""
    from service.pipelines.risk_backtest import backtest_rule

    state = _state()
    rule = state.extras["risk"].rules.store.get(name)
    if rule is None:
        raise click.ClickException(f"no decision rule named {name!r} (kefu rules list)")
    report = backtest_rule(rule, state.extras["risk"].audit, days=days, examples=10)
    if plot is not None:
        from models.risk.backtest_plot import plot_backtest

        plot_backtest(report, plot, f"rule {name} ({rule['action']})")
    if as_json:
        click.echo(json.dumps(report, default=str, indent=2))
        return
    o = report["outcomes"]
    share = "" if report["match_rate"] is None else f" ({report['match_rate']:.1%})"
    click.echo(f"rule {name} on {rule['model']}: {report['cases']} cases in {days} days"
               f"{' (the newest; more were stored)' if report['truncated'] else ''}, "
               f"{report['matched']} matched{share}, {report['changed']} decisions raised, "
               f"{report['listed']} kept by a list entry, {report['matched_live']} matched live")
    before, after = report["decisions"]["before"], report["decisions"]["after"]
    click.echo("decisions: " + ", ".join(f"{d} {before[d]} → {after[d]}" for d in before))
    precision = "n/a" if o["precision"] is None else f"{o['precision']:.3f}"
    recall = "n/a" if o["recall"] is None else f"{o['recall']:.3f}"
    click.echo(f"outcomes: {o['labelled']} labelled, {o['fraud']} fraud; matched {o['matched_labelled']} labelled, "
               f"{o['matched_fraud']} fraud; precision {precision}, recall {recall}; raised {o['changed_fraud']} "
               f"fraud and {o['changed_legit']} legitimate cases")
    unseen = {f: n for f, n in report["missing"].items() if n}
    if unseen:
        click.echo("not carried by every case: " + ", ".join(f"{f} ({n})" for f, n in unseen.items()))
    if plot is not None:
        click.echo(f"plot: {plot}")
