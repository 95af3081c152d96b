"""The ``kefu`` command line: demo, serve, ingest, profiles, keys, db."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from service.config import describe_settings, settings_from_env


def _app(**overrides):
    from service.app import create_app

    return create_app(overrides or None)


def _state(app):
    return app.extensions["kefu"]


@click.group()
@click.version_option(package_name="kefu")
def cli() -> None:
    """kefu: customer profiles, recommendations, risk scores and support chat over HTTP.

    Every setting is a KEFU_* environment variable (see `kefu config`).
    """


@cli.command()
def config() -> None:
    """List every setting, its environment variable, default and current value."""
    current = settings_from_env()
    for env, default, doc in describe_settings():
        name = env.removeprefix("KEFU_").lower()
        click.echo(f"{env:<28} {getattr(current, name)!r:<28} default {default}  {doc}")


# -- db -------------------------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema to the newest migration."""
    from features.storage.engine import make_engine
    from features.storage.migrate import upgrade

    settings = settings_from_env()
    upgrade(make_engine(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous,
                        sqlite_mmap_mb=settings.sqlite_mmap_mb), risk_hold_hours=settings.risk_hold_hours)
    click.echo(f"schema up to date at {settings.resolved_database_url.split('@')[-1]}")


# -- keys -----------------------------------------------------------------------------------------------------
@cli.group()
def keys() -> None:
    """API keys with scopes."""


@keys.command("create")
@click.option("--scope", "scopes", multiple=True, required=True, help="events, profiles, recommendations, risk, chat or admin; repeat for more")
@click.option("--name", default=None, help="Who or what the key is for.")
def keys_create(scopes: tuple[str, ...], name: str | None) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    from service.auth import create_api_key

    app = _app()
    try:
        key = create_api_key(_state(app).store, list(scopes), name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from exc
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """Key ids, names, scopes, and whether revoked (never the keys)."""
    for row in _state(_app()).store.list_api_keys():
        revoked = f" revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else ""
        click.echo(f"{row['key_id']}  {row['scopes']:<40} {row['name'] or ''}{revoked}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (the part after 'kefu_')."""
    if not _state(_app()).store.revoke_api_key(key_id):
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked {key_id}")


# -- ingest ---------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mapping", "mapping_spec", default=None, help="A preset (ta-feng, movielens) or a JSON mapping file.")
@click.option("--kind", type=click.Choice(["events", "customers", "items"]), default=None, help="Without --mapping: what the file holds; its columns already use kefu's names.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Where rejected rows go (default FILE.rejects.csv).")
@click.option("--chunk-size", default=50_000, show_default=True)
@click.option("--profiles", "profile_mode", type=click.Choice(["auto", "rebuild", "refresh", "skip"]), default="auto", show_default=True,
              help="After the import: rebuild all profiles (auto does this on a first import), refresh the touched ones, or skip.")
def ingest(file: Path, mapping_spec: str | None, kind: str | None, rejects: Path | None, chunk_size: int, profile_mode: str) -> None:
    """Import a CSV, Parquet or JSONL FILE of events, customers or items."""
    from features.ingest.files import FileImporter, count_rows
    from features.ingest.mapping import ColumnMapping

    if mapping_spec:
        mapping = ColumnMapping.load(mapping_spec)
    else:
        mapping = _identity_mapping(file, kind or "events")
    app = _app()
    state = _state(app)
    importer = FileImporter(state.store, state.extras["ingestor"])
    with tqdm(total=count_rows(file), unit="rows", desc=f"ingest {file.name}", file=sys.stderr) as bar:
        report = importer.run(file, mapping, rejects_path=rejects, chunk_size=chunk_size, progress=bar.update)
    click.echo(
        f"{report.rows} rows in {report.seconds:.1f}s ({report.rows_per_second:,.0f} rows/s): "
        f"{report.accepted} accepted, {report.duplicates} duplicates, {report.rejected} rejected"
    )
    if report.rejects_path:
        click.echo(f"rejected rows with reasons: {report.rejects_path}")
    if mapping.kind == "events" and report.accepted:
        profiles = state.extras["profiles"]
        if profile_mode == "auto":
            profile_mode = "refresh" if profiles.segmenter() is not None else "rebuild"
        if profile_mode == "rebuild":
            _rebuild(state)
        elif profile_mode == "refresh":
            with tqdm(unit="customers", desc="refresh profiles", file=sys.stderr) as bar:
                n = profiles.refresh_dirty(progress=bar.update)
            click.echo(f"{n} profiles refreshed")


def _identity_mapping(file: Path, kind: str):
    """Without a mapping the file's columns must be kefu's own names."""
    from features.events import CHAT_FIELDS, CUSTOMER_FIELDS, EVENT_COLUMNS, ITEM_FIELDS
    from features.ingest.files import read_chunks
    from features.ingest.mapping import ColumnMapping

    head = next(read_chunks(file, 5))
    known = {
        "events": [c for c in EVENT_COLUMNS if c != "ts"] + ["timestamp", *CHAT_FIELDS],
        "customers": list(CUSTOMER_FIELDS),
        "items": list(ITEM_FIELDS),
    }[kind]
    columns = {c: c for c in head.columns if c in known}
    if not columns:
        raise click.ClickException(f"{file.name}: no column uses kefu's {kind} field names ({', '.join(known)}); pass --mapping")
    return ColumnMapping(kind=kind, columns=columns)


# -- profiles -------------------------------------------------------------------------------------------------
@cli.group()
def profiles() -> None:
    """Customer profiles."""


def _rebuild(state) -> None:
    with tqdm(total=None, unit="customers", desc="rebuild profiles", file=sys.stderr) as bar:
        stats = state.extras["profiles"].rebuild_all(progress=bar.update)
    click.echo(f"{stats.customers} profiles rebuilt in {stats.seconds:.1f}s (as of {stats.as_of}); segments: "
               + ", ".join(f"{k} {v}" for k, v in stats.segments.items()))


@profiles.command("rebuild")
def profiles_rebuild() -> None:
    """Rebuild every profile from stored events and refit the segments."""
    _rebuild(_state(_app()))


@profiles.command("refresh")
@click.option("--watch", "watch", type=float, default=None, metavar="SECONDS",
              help="Keep running: refresh whatever is marked dirty every SECONDS (what `kefu serve` runs).")
def profiles_refresh(watch: float | None) -> None:
    """Rebuild only profiles whose customers have new events since their last build."""
    state = _state(_app())
    if watch is None:
        with tqdm(unit="customers", desc="refresh profiles", file=sys.stderr) as bar:
            n = state.extras["profiles"].refresh_dirty(progress=bar.update)
        click.echo(f"{n} profiles refreshed")
        return
    from service.profile_watch import watch_dirty_profiles

    watch_dirty_profiles(state.extras["profiles"], interval_s=watch)


@profiles.command("show")
@click.argument("customer_id")
def profiles_show(customer_id: str) -> None:
    """Print one profile as JSON."""
    profile = _state(_app()).extras["profiles"].get(customer_id)
    if profile is None:
        raise click.ClickException(f"no customer {customer_id}")
    click.echo(json.dumps(profile, default=str, indent=2, ensure_ascii=False))


# -- serve and demo ---------------------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API with gunicorn on an existing state (see `kefu demo --no-serve`)."""
    from service.server import run_gunicorn

    run_gunicorn(host, port, workers)


@cli.command()
@click.option("--serve/--no-serve", "do_serve", default=True, help="Serve after preparing (default), or prepare and exit.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--customers", "n_customers", default=2000, show_default=True, help="Size of the simulated shop.")
@click.option("--seed", default=7, show_default=True)
def demo(do_serve: bool, host: str, port: int, workers: int, n_customers: int, seed: int) -> None:
    """Build the demo shop: simulate, ingest, build profiles, train the models, make keys, print curl calls, serve."""
    from service.demo import prepare_demo

    keys_by_scope, example = prepare_demo(n_customers=n_customers, seed=seed, echo=click.echo)
    base = f"http://{host}:{port}"
    click.echo("\nAPI keys (also saved in " + str(Path(settings_from_env().data_dir) / "demo-keys.json") + "):")
    for scope, key in keys_by_scope.items():
        click.echo(f"  {scope:<16} {key}")
    click.echo("\nTry:")
    for line in example(base):
        click.echo("  " + line)
    click.echo(f"\nOpenAPI: {base}/openapi.json   docs: {base}/docs")
    if do_serve:
        from service.server import run_gunicorn

        run_gunicorn(host, port, workers)


import service.cli.challenger  # noqa: E402,F401 - adds `kefu models challenge|compare`
from service.cli.chat import kb, train_intents_cmd, train_sentiment_cmd  # noqa: E402
from service.cli.models import evaluate, models, score, train  # noqa: E402
from service.cli.promotions import promotions  # noqa: E402
from service.cli.recommend import recommend  # noqa: E402
from service.cli.rules import rules  # noqa: E402

train.add_command(train_intents_cmd)
train.add_command(train_sentiment_cmd)
for command in (train, evaluate, score, recommend, promotions, rules, models, kb):
    cli.add_command(command)


def main() -> None:  # pragma: no cover
    cli(prog_name="kefu")


if __name__ == "__main__":  # pragma: no cover
    main()
