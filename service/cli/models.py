"""CLI: `kefu train risk|recommender`, `kefu score`, `kefu evaluate recommender`, `kefu models list|activate|rollback|thresholds|monitor`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm


def _state():
    from service.app import create_app

    return create_app().extensions["kefu"]


@click.group()
def train() -> None:
    """Train models (each run makes a new immutable version in the registry)."""


@train.command("risk")
@click.option("--name", required=True, help="Model name, e.g. taiwan or transactions.")
@click.option("--data", "data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A labelled table: CSV (separator detected), Parquet or JSONL. Without it: the behavioural model "
                   "from the stored, labelled payments (features as of each payment's time).")
@click.option("--label", default=None, help="The label column (0/1, boolean, or two values); with --data.")
@click.option("--id-column", default=None, help="A row id column (kept out of the inputs).")
@click.option("--time-column", default=None, help="Split by this time column (train on the past) instead of at random.")
@click.option("--drop", multiple=True, help="Columns to leave out of the inputs; repeat for more.")
@click.option("--protected", multiple=True, help="Columns such as sex or age band: kept out of the inputs, reported per group.")
@click.option("--use-protected", is_flag=True, help="Let the model use the --protected columns as inputs.")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-activate", is_flag=True, help="Save the version without making it the active one.")
@click.option("--dask-scheduler", default=None, metavar="ADDRESS",
              help="Run the boosting on this Dask cluster, e.g. tcp://host:8786 (default: KEFU_DASK_SCHEDULER; "
                   "empty: here). The table is still read and prepared here.")
def train_risk(name, data, label, id_column, time_column, drop, protected, use_protected, seed, no_activate,
               dask_scheduler) -> None:
    """Train a calibrated LightGBM risk model on any labelled table (or the stored payments), with baselines
    and a report."""
    from features.ingest.files import read_table
    from features.transactions import labelled_transactions

    state = _state()
    kind = "risk_table"
    if data is None:
        frame = labelled_transactions(state.store)
        if frame.empty or frame["is_fraud"].nunique() < 2:
            raise click.ClickException("no labelled payments with both classes stored: send payment events with is_fraud")
        label, time_column, kind, source = "is_fraud", "ts", "risk_transactions", "stored payments"
        click.echo(f"{len(frame)} labelled payments ({int(frame['is_fraud'].sum())} fraud), features as of each payment")
    else:
        if not label:
            raise click.BadParameter("--label is required with --data", param_hint="--label")
        frame = read_table(data)
        source = str(data)
        if label not in frame.columns:
            raise click.BadParameter(f"{data.name} has no column {label!r}; it has {', '.join(map(str, frame.columns))}", param_hint="--label")
    address = (state.settings.dask_scheduler if dask_scheduler is None else dask_scheduler).strip()
    fitter = _dask_fitter(address) if address else None
    try:
        trained = _train_with_progress(frame, state, name=name, label=label, id_column=id_column,
                                       time_column=time_column, drop=drop, protected=protected,
                                       use_protected=use_protected, seed=seed, activate=not no_activate,
                                       source=source, kind=kind, fitter=fitter)
    finally:
        if fitter is not None:
            fitter.close()
    v = trained.version
    state.store.record_model_version(name, v.version, v.kind, path=str(v.path), data_hash=v.meta.get("data_hash"), metrics=v.metrics)
    click.echo(f"model {name} version {v.version}{' (active)' if not no_activate else ''}")
    trained_on = trained.result.model.meta.get("trained_on") or {}
    if trained_on.get("engine") == "dask":
        click.echo(f"boosting on the Dask cluster at {trained_on['scheduler']} ({trained_on['workers']} workers)")
    elif fitter is not None:
        click.echo("small table: cross-fitted here, the Dask cluster was not needed")
    click.echo(_metrics_table(trained.result.metrics))
    click.echo(f"thresholds: review ≥ {v.meta['thresholds']['review']:.4f}, decline ≥ {v.meta['thresholds']['decline']:.4f}")
    click.echo(f"report: {trained.report}")


def _dask_fitter(address: str):
    """A DaskFitter connected to the scheduler at `address` (the caller closes it); a clear error when the
    `dask` extra is not installed or the scheduler does not answer."""
    try:
        import distributed  # noqa: F401

        from models.risk.dask_fit import DaskFitter
    except ImportError as exc:
        raise click.ClickException(f"--dask-scheduler needs dask.distributed: pip install 'kefu[dask]' ({exc})") from exc
    try:
        return DaskFitter.connect(address)
    except OSError as exc:  # includes the connection timeout
        raise click.ClickException(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def _train_with_progress(frame, state, *, name, **kwargs):
    from models.risk.job import train_and_register

    steps = ["preparing", "training kefu", "calibrating", "baselines", "testing", "report"]
    with tqdm(total=len(steps), desc=f"train risk {name}", unit="step", file=sys.stderr) as bar:
        def progress(message: str) -> None:
            bar.set_postfix_str(message[:40])
            if bar.n < bar.total - 1:
                bar.update(1)

        trained = train_and_register(
            frame, registry=state.extras["registry"], name=name,
            report_root=Path(state.settings.data_dir) / "reports", progress=progress, **kwargs,
        )
        bar.update(bar.total - bar.n)
    return trained


def _metrics_table(metrics: dict) -> str:
    cols = ["roc_auc", "pr_auc", "brier", "log_loss"]
    lines = [f"{'model':<22}" + "".join(f"{c:>10}" for c in cols)]
    for model, values in metrics.items():
        lines.append(f"{model:<22}" + "".join(f"{values.get(c, float('nan')):>10.4f}" for c in cols))
    return "\n".join(lines)


@click.command()
@click.option("--name", required=True, help="The risk model to score with.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV or Parquet to write.")
@click.option("--chunk-size", default=100_000, show_default=True)
@click.option("--model-decision", is_flag=True,
              help="Decide by the model's thresholds alone: no block or allow lists, no decision rules.")
def score(name: str, file: Path, out: Path, chunk_size: int, model_decision: bool) -> None:
    """Score every row of FILE; writes the rows with risk_score and risk_decision added.

    As the API does, a block or allow list entry matching a row's column (or its customer_id column) decides the
    row, and the model's enabled decision rules escalate the others; risk_list and risk_rules name them."""
    import pandas as pd

    from features.ingest.files import read_table
    from models.registry import ModelNotFound

    state = _state()
    try:
        model, version = state.extras["models"].get(name)
    except ModelNotFound as exc:
        raise click.ClickException(f"no loadable risk model {name!r}: {exc}") from exc
    thresholds = state.extras["risk"].thresholds(name, model)
    frame = read_table(file)
    label = version.meta.get("label")
    inputs = frame.drop(columns=[c for c in frame.columns if c not in model.feature_names])
    missing = [c for c in model.feature_names if c not in frame.columns]
    if missing:
        raise click.ClickException(f"{file.name} lacks the model's columns: {', '.join(missing)}")
    scores = []
    with tqdm(total=len(frame), desc=f"score {name}", unit="rows", file=sys.stderr) as bar:
        for start in range(0, len(inputs), chunk_size):
            part = inputs.iloc[start : start + chunk_size]
            scores.append(model.score(part, num_threads=0))
            bar.update(len(part))
    result = frame.copy()
    result["risk_score"] = pd.Series([s for chunk in scores for s in chunk], index=frame.index)
    result["risk_decision"] = [model.decide(s, thresholds) for s in result["risk_score"]]
    if not model_decision:
        from service.pipelines.risk_files import decide_rows

        risk = state.extras["risk"]
        decided = decide_rows(frame, result["risk_score"].to_numpy(), result["risk_decision"].tolist(),
                              rules=risk.rules_for(name), lists=risk.lists)
        changed = sum(a != b for a, b in zip(decided["decisions"], result["risk_decision"]))
        result["risk_decision"] = decided["decisions"]
        result["risk_list"] = [f"{m['action']} {m['field']}={m['value']}" if m else "" for m in decided["list_match"]]
        result["risk_rules"] = [";".join(n) for n in decided["rule_matches"]]
        listed = sum(m is not None for m in decided["list_match"])
        ruled = sum(bool(n) for n in decided["rule_matches"])
        click.echo(f"lists decided {listed} rows, rules matched {ruled}; {changed} decisions differ from the "
                   f"model's own", err=True)
    if out.suffix.lower() in {".parquet", ".pq"}:
        result.to_parquet(out)
    else:
        result.to_csv(out, index=False)
    counts = result["risk_decision"].value_counts().to_dict()
    click.echo(f"{len(result)} rows scored with {name} {version.version} → {out} "
               f"({', '.join(f'{k} {v}' for k, v in counts.items())}){' [label column kept]' if label in frame else ''}")


@click.group()
def models() -> None:
    """The model registry."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True)
def models_list(as_json: bool) -> None:
    """Every model, its versions, the active one (*) and its challenger."""
    state = _state()
    registry = state.extras["registry"]
    rows = []
    for name in registry.names():
        current, challenger = registry.current(name), registry.challenger(name)
        for v in registry.versions(name):
            rows.append({"name": name, "version": v.version, "kind": v.kind, "active": bool(current and current.version == v.version),
                         "challenger": challenger.as_dict() if challenger and challenger.version == v.version else None,
                         "created_at": v.created_at, "metrics": {k: v.metrics[k] for k in list(v.metrics)[:4]},
                         "refreshed_from": v.meta.get("refreshed_from")})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no models yet: kefu train risk --name NAME --data FILE --label COLUMN")
    for r in rows:
        metrics = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in r["metrics"].items())
        challenge = f" [{r['challenger']['mode']} challenger, share {r['challenger']['share']:g}]" if r["challenger"] else ""
        refreshed = f" (refresh of {r['refreshed_from']})" if r["refreshed_from"] else ""
        click.echo(f"{'*' if r['active'] else ' '} {r['name']:<16} {r['version']:<26} {r['kind']:<12} {metrics}"
                   f"{challenge}{refreshed}")


@models.command("activate")
@click.argument("name")
@click.argument("version")
@click.option("--reason", default="")
def models_activate(name: str, version: str, reason: str) -> None:
    """Make VERSION the active one (running workers switch within seconds)."""
    from features.errors import Conflict
    from service.pipelines.model_admin import activate_version

    state = _state()
    try:
        activate_version(state.extras["registry"], state.extras["models"], name, version, reason, by="cli")
    except Conflict as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{name} → {version}")


@models.command("rollback")
@click.argument("name")
@click.option("--reason", default="")
def models_rollback(name: str, reason: str) -> None:
    """Go back to the version active before the current one."""
    v = _state().extras["registry"].rollback(name, reason)
    click.echo(f"{name} → {v.version}")


@models.command("thresholds")
@click.argument("name")
@click.option("--review", type=float, required=True)
@click.option("--decline", type=float, required=True)
def models_thresholds(name: str, review: float, decline: float) -> None:
    """Set a risk model's decision thresholds (no retraining)."""
    state = _state()
    if not state.extras["registry"].versions(name):
        raise click.ClickException(f"no model {name}")
    try:
        state.extras["risk_audit"].set_thresholds(name, review, decline, by="cli")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(f"{name}: review ≥ {review}, decline ≥ {decline}")


@models.command("monitor")
@click.argument("name")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 366), help="How many days back to read.")
@click.option("--version", default=None, help="A version (default: the active one).")
@click.option("--plot", "plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the report as a PNG here.")
@click.option("--json", "as_json", is_flag=True)
def models_monitor(name: str, days: int, version: str | None, plot: Path | None, as_json: bool) -> None:
    """Is a risk model still scoring the population it was trained on? PSI per feature, alert rates, outcomes."""
    from features.errors import KefuError
    from service.pipelines.risk_monitor import monitoring_report

    state = _state()
    try:
        report = monitoring_report(state.extras["registry"], state.extras["risk"], state.extras["risk_audit"], name,
                                   version=version, days=days)
    except KefuError as exc:
        raise click.ClickException(exc.message) from exc
    if plot is not None:
        from models.risk.monitoring_plot import plot_monitoring

        plot_monitoring(report, plot)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    alert = report["alert_rate"]
    click.echo(f"{name} {report['model_version']}: {report['scores']} scores in {days} days, status {report['status']}")
    expected = f" (expected {alert['expected']:.1%})" if alert.get("expected") is not None else ""
    click.echo(f"alert rate {alert['served']:.1%}{expected}; score PSI {report['score_psi']}")
    for f in report["features"][:10]:
        shift = f["largest_shift"]
        click.echo(f"  {f['feature']:<28} PSI {f['psi']:.3f} {f['status']:<7} "
                   f"{shift['bin']}: {shift['expected']:.1%} → {shift['served']:.1%}")
    outcomes = report.get("outcomes")
    if outcomes and outcomes["labelled"]:
        click.echo(f"outcomes: {outcomes['labelled']} labelled, {outcomes['positives']} positive, ROC-AUC "
                   f"{outcomes['roc_auc']} (at training {outcomes['trained_roc_auc']})")
    if plot is not None:
        click.echo(f"plot: {plot}")


@train.command("recommender")
@click.option("--no-activate", is_flag=True, help="Save the version without making it the active one.")
@click.option("--refresh", is_flag=True,
              help="Keep the active version's ranker and refit only its candidate tables on everything stored now "
                   "(new items, latest co-purchases and popularity): seconds instead of a training.")
@click.option("--every", type=click.FloatRange(min=0, min_open=True), metavar="HOURS",
              help="With --refresh: keep running, and refresh every HOURS when events or catalogue items were "
                   "stored since the active version (what `kefu serve` runs when KEFU_RECOMMEND_REFRESH_HOURS > 0).")
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="Scheduled refreshes kept on disk; older ones are deleted, never the active version, the "
                   "challenger or a trained version (default KEFU_RECOMMEND_REFRESH_KEEP).")
@click.option("--scheduled", is_flag=True, hidden=True)
def train_recommender_cmd(no_activate: bool, refresh: bool, every: float | None, keep: int | None,
                          scheduled: bool) -> None:
    """Train the recommender (candidates + LightGBM LambdaRank) on the stored events, with a time split.

    With --refresh, the active version's ranker is kept and its candidate tables are refitted on the events and
    catalogue stored now, so items added since the last training can be shown; train again when customers'
    behaviour has changed. With --refresh --every HOURS, it keeps doing so on a schedule."""
    from features.errors import NotFound
    from service.pipelines.recommend import refresh_and_register, train_and_register

    if (every is not None or scheduled) and not refresh:
        raise click.UsageError("--every and --scheduled go with --refresh")
    state = _state()
    keep = keep if keep is not None else state.settings.recommend_refresh_keep
    if every is not None:
        import signal

        from service.pipelines.recommend_schedule import run_schedule

        # `kefu serve` stops its helpers with SIGTERM: exit through run_schedule's finally, which gives up the
        # lease, so another host (or this one restarted) takes over at its next check instead of after expiry.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        click.echo(f"refreshing the recommender every {every:g} h when something new is stored "
                   f"(keeping {keep} scheduled refreshes)", err=True)
        run_schedule(state.store.engine, state.extras["registry"], every * 3600, keep,
                     echo=lambda message: click.echo(message, err=True))
        return
    with tqdm(desc="refresh recommender" if refresh else "train recommender", unit="step", file=sys.stderr) as bar:
        def progress(message: str) -> None:
            bar.set_postfix_str(message[:60])
            bar.update(1)

        if refresh:
            try:
                version, base = refresh_and_register(state, progress=progress, activate=not no_activate,
                                                     scheduled=scheduled)
            except (NotFound, ValueError) as exc:
                raise click.ClickException(str(exc)) from exc
        else:
            version = train_and_register(state, progress=progress, activate=not no_activate)
    if refresh:
        meta = version.meta
        click.echo(f"recommender version {version.version}{'' if no_activate else ' (active)'}: the ranker of "
                   f"{base.version} over candidate tables as of {meta['state_as_of']}, {meta['items']} items "
                   f"({meta['new_items']} new), {meta['refresh_seconds']} s")
        if scheduled:
            from service.pipelines.recommend_schedule import prune_scheduled

            pruned = prune_scheduled(state.extras["registry"], keep)
            if pruned:
                click.echo(f"deleted {len(pruned)} older scheduled refreshes: {', '.join(pruned)}")
        return
    m = version.metrics
    click.echo(f"recommender version {version.version}{'' if no_activate else ' (active)'}: "
               f"validation NDCG@10 {m.get('valid_ndcg_at_10')}, {m.get('trees')} trees, {m.get('training_seconds')} s")


@click.group()
def evaluate() -> None:
    """Evaluate models against baselines on held-out data."""


@evaluate.command("recommender")
@click.option("--k", default=10, show_default=True)
def evaluate_recommender(k: int) -> None:
    """Hold out the newest period; train kefu and the baselines on what came before; report HR/NDCG/Recall/MAP@k."""
    import json as _json
    import time as _time

    from models.recommend.from_store import evaluate_on_data, load_store_data
    from models.recommend.report import markdown_table, write_html

    state = _state()
    with tqdm(desc="evaluate recommender", unit="step", file=sys.stderr) as bar:
        def progress(message: str) -> None:
            bar.set_postfix_str(message[:60])
            bar.update(1)

        data = load_store_data(state.store, state.embedder, progress)
        result = evaluate_on_data(data, k=k, progress=progress)
    result["protocol"] = (f"last {result['label_window_days']} days held out (from {result['test_from']}); "
                          f"{result['users']} customers with history who bought in it")
    folder = Path(state.settings.data_dir) / "reports" / "recommend-eval" / _time.strftime("%Y%m%dT%H%M%S")
    page = write_html({"store": result}, folder, "kefu evaluate recommender")
    (folder / "result.json").write_text(_json.dumps(result, indent=2, default=str))
    click.echo(markdown_table(result["methods"]))
    click.echo(f"kefu / best baseline ({result['best_baseline']}) NDCG@10: {result['ndcg_ratio_vs_best_baseline']}")
    click.echo(f"report: {page}")
