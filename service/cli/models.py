"""CLI: `kefu train risk`, `kefu score`, `kefu models list|activate|rollback|thresholds`."""
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
def train_risk(name, data, label, id_column, time_column, drop, protected, use_protected, seed, no_activate) -> None:
    """Train a calibrated LightGBM risk model on any labelled table (or the stored payments), with baselines
    and a report."""
    from features.ingest.files import read_table
    from features.transactions import labelled_transactions
    from models.risk.job import train_and_register

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
    steps = ["preparing", "training kefu", "calibrating", "baselines", "testing", "report"]
    with tqdm(total=len(steps), desc=f"train risk {name}", unit="step", file=sys.stderr) as bar:
        def progress(message: str) -> None:
            bar.set_postfix_str(message[:40])
            if bar.n < bar.total - 1:
                bar.update(1)

        trained = train_and_register(
            frame, registry=state.extras["registry"], name=name, label=label,
            report_root=Path(state.settings.data_dir) / "reports", id_column=id_column, time_column=time_column,
            drop=drop, protected=protected, use_protected=use_protected, seed=seed, activate=not no_activate,
            progress=progress, source=source, kind=kind,
        )
        bar.update(bar.total - bar.n)
    v = trained.version
    state.store.record_model_version(name, v.version, v.kind, path=str(v.path), data_hash=v.meta.get("data_hash"), metrics=v.metrics)
    click.echo(f"model {name} version {v.version}{' (active)' if not no_activate else ''}")
    click.echo(_metrics_table(trained.result.metrics))
    click.echo(f"thresholds: review ≥ {v.meta['thresholds']['review']:.4f}, decline ≥ {v.meta['thresholds']['decline']:.4f}")
    click.echo(f"report: {trained.report}")


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
def score(name: str, file: Path, out: Path, chunk_size: int) -> None:
    """Score every row of FILE; writes the rows with score and decision added."""
    import pandas as pd

    from features.ingest.files import read_table

    state = _state()
    model, version = state.extras["models"].get(name)
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
    result["risk_decision"] = [
        "decline" if s >= thresholds["decline"] else "review" if s >= thresholds["review"] else "approve"
        for s in result["risk_score"]
    ]
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
    """Every model, its versions and the active one."""
    state = _state()
    registry = state.extras["registry"]
    rows = []
    for name in registry.names():
        current = registry.current(name)
        for v in registry.versions(name):
            rows.append({"name": name, "version": v.version, "kind": v.kind, "active": bool(current and current.version == v.version),
                         "created_at": v.created_at, "metrics": {k: v.metrics[k] for k in list(v.metrics)[:4]}})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no models yet: kefu train risk --name NAME --data FILE --label COLUMN")
    for r in rows:
        metrics = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in r["metrics"].items())
        click.echo(f"{'*' if r['active'] else ' '} {r['name']:<16} {r['version']:<26} {r['kind']:<12} {metrics}")


@models.command("activate")
@click.argument("name")
@click.argument("version")
@click.option("--reason", default="")
def models_activate(name: str, version: str, reason: str) -> None:
    """Make VERSION the active one (running workers switch within seconds)."""
    state = _state()
    state.extras["registry"].activate(name, version, reason)
    status = state.extras["models"].reload(name)
    if status.get("version") != version:
        raise click.ClickException(f"activated, but it does not load: {status.get('error')}; roll back with `kefu models rollback {name}`")
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
