"""CLI: `kefu models challenge` (set, show or stop a challenger) and `kefu models compare` (champion against it)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from service.cli.models import _state, models


def _describe(name: str, state) -> str:
    challenger = state.extras["registry"].challenger(name)
    if challenger is None:
        return f"{name}: no challenger"
    return (f"{name}: {challenger.version} challenges {state.extras['registry'].current(name).version} "
            f"({challenger.mode}, share {challenger.share:g}, since {challenger.since})")


@models.command("challenge")
@click.argument("name")
@click.argument("version", required=False)
@click.option("--mode", type=click.Choice(["shadow", "split"]), default=None,
              help="shadow: it only scores, into the audit trail (risk); split: it decides its share of customers.")
@click.option("--share", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Share of customers it takes (default 1.0 in shadow, 0.1 in split).")
@click.option("--stop", is_flag=True, help="End the challenge.")
@click.option("--reason", default="")
def models_challenge(name: str, version: str | None, mode: str | None, share: float | None, stop: bool,
                     reason: str) -> None:
    """Serve VERSION next to the active version of NAME (without VERSION: show the challenger)."""
    from features.errors import KefuError
    from service.pipelines.model_admin import challenge_with

    state = _state()
    registry, loaded = state.extras["registry"], state.extras["models"]
    try:
        if stop:
            if version is not None:
                raise click.UsageError("--stop takes no VERSION")
            ended = registry.stop_challenger(name, reason, by="cli")
            click.echo(f"{name}: challenge by {ended.version} ended" if ended else f"{name}: no challenger")
            return
        if version is not None:
            if mode is None:
                raise click.UsageError("--mode shadow|split is required with a VERSION")
            challenge_with(registry, loaded, name, version, mode, share, reason, by="cli")
        click.echo(_describe(name, state))
    except KefuError as exc:
        raise click.ClickException(exc.message) from exc


def _percent(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"


@models.command("compare")
@click.argument("name")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366), help="How many days back to read.")
@click.option("--version", default=None, help="A challenger version (default: the running challenger).")
@click.option("--plot", "plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the comparison as a PNG here.")
@click.option("--json", "as_json", is_flag=True)
def models_compare(name: str, days: int, version: str | None, plot: Path | None, as_json: bool) -> None:
    """Is the challenger better than the active version on live traffic? (risk models and the recommender)"""
    from features.errors import KefuError
    from service.pipelines.risk_challenge import challenger_report

    state = _state()
    registry = state.extras["registry"]
    try:
        current = registry.current(name) if name in registry.names() else None
        if current is not None and current.kind == "recommender":
            _compare_recommenders(state, name, days, version, plot, as_json)
            return
        report = challenger_report(registry, state.extras["risk_audit"], name, version=version, days=days)
    except KefuError as exc:
        raise click.ClickException(exc.message) from exc
    if plot is not None:
        from models.challenger_plot import plot_risk_challenge

        plot_risk_challenge(report, plot)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    mode = f" ({report['mode']}, share {report['share']:g})" if report["mode"] else ""
    click.echo(f"{name}: {report['challenger']} against {report['champion']}{mode}, since {report['since']:%Y-%m-%d %H:%M}")
    click.echo(f"  {'version':<26} {'cases':>7} {'review':>7} {'decline':>8} {'outcomes':>9} {'ROC-AUC':>8} "
               f"{'AP':>7} {'Brier':>7}")
    for role, a in zip(("champion", "challenger"), report["arms"]):
        rates = a["decision_rates"]
        click.echo(f"  {a['version']:<26} {a['cases']:>7} {_percent(rates['review']):>7} "
                   f"{_percent(rates['decline']):>8} {a['outcomes']:>9} {_number(a['roc_auc']):>8} "
                   f"{_number(a['average_precision']):>7} {_number(a['brier']):>7}  {role}")
    paired = report["paired"]
    if paired:
        click.echo(f"  same cases: {paired['cases']} ({_percent(paired['coverage'])} of the champion's), decisions "
                   f"agree on {_percent(paired['agreement'])}, score correlation {_number(paired['score_correlation'])}")
    diff = report["auc_difference"]
    if diff:
        click.echo(f"  ROC-AUC difference {diff['estimate']:+.4f} (95 % interval {diff['low']:+.4f} to "
                   f"{diff['high']:+.4f}, {diff['how']}, {diff['cases']} cases with outcomes)")
    click.echo(f"verdict: {report['verdict']}")
    if plot is not None:
        click.echo(f"plot: {plot}")


def _compare_recommenders(state, name: str, days: int, version: str | None, plot: Path | None,
                          as_json: bool) -> None:
    """The recommender's split test, from the online performance report (customers who viewed or bought)."""
    from service.pipelines.recommend_online import performance_report, split_versions

    versions = split_versions(state.extras["registry"], name, version)
    if versions is None:
        raise click.ClickException(f"Model '{name}' has no challenger; name a past one with --version.")
    test = performance_report(state.extras["recommend_log"], days=days, versions=versions)["challenge"]
    if plot is not None:
        from models.challenger_plot import plot_recommender_split

        plot_recommender_split(test, plot)
    if as_json:
        click.echo(json.dumps(test, indent=2, default=str))
        return
    since = f", since {test['since']:%Y-%m-%d %H:%M}" if test["since"] else ""
    click.echo(f"{name}: {test['challenger']} against {test['champion']} (split{since})")
    click.echo(f"  {'version':<26} {'customers':>9} {'lists':>7} {'viewed':>7} {'bought':>7}")
    for role, a in zip(("champion", "challenger"), test["arms"]):
        click.echo(f"  {a['version']:<26} {a['customers']:>9} {a['lists']:>7} {_percent(a['view_rate']):>7} "
                   f"{_percent(a['purchase_rate']):>7}  {role}")
    diff = test["purchase_rate_difference"]
    if diff:
        click.echo(f"  purchase rate difference {diff['estimate']:+.2%} (95 % interval {diff['low']:+.2%} to "
                   f"{diff['high']:+.2%})")
    click.echo(f"verdict: {test['verdict']}")
    if plot is not None:
        click.echo(f"plot: {plot}")
