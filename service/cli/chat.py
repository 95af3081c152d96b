"""CLI for the chat models: `kefu kb import`, `kefu train intents`, `kefu train sentiment`.

The commands are plain click objects; ``service/cli/main.py`` registers ``kb`` as a group and adds
``train_intents_cmd`` / ``train_sentiment_cmd`` to the ``train`` group. The work is in ``models.chat.jobs``;
this module reads options, shows progress on stderr and turns domain errors into click errors (exit code 2
for a bad option such as a missing column, 1 for anything else).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click
from tqdm import tqdm

from features.errors import KefuError
from service.cli.models import _state

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_UNITS = {"embedding": "texts", "training": "fits"}


@contextmanager
def _progress(desc: str) -> Iterator[Any]:
    """A ``models.chat.jobs.Progress`` callback drawing one tqdm bar per stage on stderr."""
    bars: dict[str, tqdm] = {}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(total=total, desc=f"{desc}: {stage}", unit=_UNITS.get(stage, "steps"),
                                     file=sys.stderr, leave=False)
        if total != bar.total:
            bar.total = total
        bar.update(max(0, done - bar.n))

    try:
        yield report
    finally:
        for bar in bars.values():
            bar.close()


def _check_name(name: str) -> str:
    from models.registry import NAME_RE

    if not NAME_RE.match(name):
        raise click.BadParameter(f"{name!r}: lower case letters, digits, '_', '.', '-' (starting with a letter or "
                                 "digit, 64 at most)", param_hint="--name")
    return name


def _fail(exc: KefuError, hints: dict[str, str]) -> click.ClickException:
    """A domain error as a click error: a BadParameter pointing at the option when ``exc.errors`` names one."""
    for key, hint in hints.items():
        if exc.errors and key in exc.errors:
            return click.BadParameter(exc.message, param_hint=hint)
    return click.ClickException(exc.message)


def _record(state: Any, version: Any) -> None:
    """Note the new version in the store's model log, as `kefu train risk` does."""
    state.store.record_model_version(version.name, version.version, version.kind, path=str(version.path),
                                     data_hash=version.meta.get("data_hash"), metrics=version.metrics)


def _activated(no_activate: bool) -> str:
    return "" if no_activate else " (active)"


# ------------------------------------------------------------------------------------------------ kb
@click.group("kb")
def kb() -> None:
    """The chat knowledge base (questions and answers the assistant retrieves from)."""


@kb.command("import")
@click.argument("file", type=_FILE)
@click.option("--name", default="knowledge_base", show_default=True, callback=lambda c, p, v: _check_name(v),
              help="Registry name; the chat service reads 'knowledge_base'.")
@click.option("--no-activate", is_flag=True, help="Save the version without making it the active one.")
def kb_import(file: Path, name: str, no_activate: bool) -> None:
    """Embed the questions and answers of FILE (.csv or .jsonl: question or intent, answer; optional language,
    category, intent, entry_id) and publish them as a new knowledge base version."""
    from models.chat.jobs import import_knowledge_base, kb_summary
    from models.chat.knowledge import load_kb_file

    try:
        entries = load_kb_file(file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc
    summary = kb_summary(entries)
    click.echo(f"{file.name}: {summary['entries']} entries, {summary['topics']} topics, "
               f"languages {', '.join(summary['languages'])}")
    state = _state()
    try:
        with _progress(f"kb import {name}") as progress:
            version = import_knowledge_base(state.extras["registry"], entries, state.embedder, name=name,
                                            activate=not no_activate, progress=progress, source=str(file))
    except KefuError as exc:
        raise _fail(exc, {}) from exc
    _record(state, version)
    click.echo(f"knowledge base {name} version {version.version}{_activated(no_activate)}")


# ------------------------------------------------------------------------------------------------ train
def _read(data: Path, text_column: str, label_column: str, other: tuple[str, ...] = ()):
    from models.chat.jobs import read_labelled_frame

    try:
        return read_labelled_frame(data, text_column, label_column, other_columns=other)
    except KefuError as exc:
        hints = {"text_column": "--text-column", "label_column": "--label-column"}
        hints.update({c: "--language-column" for c in other})
        raise _fail(exc, hints) from exc


@click.command("intents")
@click.option("--data", type=_FILE, required=True, help="Labelled messages: CSV, JSONL or Parquet.")
@click.option("--text-column", required=True, help="The column holding the message text.")
@click.option("--label-column", required=True, help="The column holding the intent name.")
@click.option("--oos-label", default=None,
              help="Rows with this label are out-of-scope examples (e.g. CLINC150's 'oos'), not an intent.")
@click.option("--name", default="intents", show_default=True, callback=lambda c, p, v: _check_name(v),
              help="Registry name; the chat service reads 'intents'.")
@click.option("--test-fraction", default=0.2, show_default=True, type=click.FloatRange(0.0, 0.5),
              help="Share held out (stratified) to measure accuracy; 0 = none.")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-activate", is_flag=True, help="Save the version without making it the active one.")
def train_intents_cmd(data: Path, text_column: str, label_column: str, oos_label: str | None, name: str,
                      test_fraction: float, seed: int, no_activate: bool) -> None:
    """Train the intent classifier (with out-of-scope detection) on a labelled table of messages."""
    from models.chat.jobs import describe_intent_metrics, train_intents

    frame = _read(data, text_column, label_column)
    oos_texts: list[str] = []
    if oos_label is not None:
        is_oos = frame["label"] == str(oos_label)
        if not is_oos.any():
            raise click.BadParameter(f"no row of {data.name} has the label {oos_label!r}", param_hint="--oos-label")
        oos_texts = frame.loc[is_oos, "text"].tolist()
        frame = frame[~is_oos]
    click.echo(f"{data.name}: {len(frame)} messages, {frame['label'].nunique()} intents"
               + (f", {len(oos_texts)} out-of-scope" if oos_label is not None else ""))
    state = _state()
    try:
        with _progress(f"train intents {name}") as progress:
            version = train_intents(state.extras["registry"], frame["text"].tolist(), frame["label"].tolist(),
                                    state.embedder, oos_texts=oos_texts or None, name=name, progress=progress,
                                    test_fraction=test_fraction, seed=seed, activate=not no_activate,
                                    source=str(data))
    except KefuError as exc:
        raise _fail(exc, {"labels": "--label-column"}) from exc
    _record(state, version)
    click.echo(f"intent model {name} version {version.version}{_activated(no_activate)}")
    click.echo(describe_intent_metrics(version.metrics))


@click.command("sentiment")
@click.option("--data", type=_FILE, required=True, help="Labelled messages: CSV, JSONL or Parquet.")
@click.option("--text-column", required=True, help="The column holding the message text.")
@click.option("--label-column", required=True,
              help="The column holding negative / neutral / positive (or neg/neu/pos, -1/0/1).")
@click.option("--language-column", default=None, help="A column with the language code (en, zh); else detected.")
@click.option("--name", default="sentiment", show_default=True, callback=lambda c, p, v: _check_name(v),
              help="Registry name; the chat service reads 'sentiment'.")
@click.option("--test-fraction", default=0.2, show_default=True, type=click.FloatRange(0.0, 0.5),
              help="Share held out (stratified) to measure accuracy; 0 = none.")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-activate", is_flag=True, help="Save the version without making it the active one.")
def train_sentiment_cmd(data: Path, text_column: str, label_column: str, language_column: str | None, name: str,
                        test_fraction: float, seed: int, no_activate: bool) -> None:
    """Train the sentiment model (negative / neutral / positive, and the anger flag) on a labelled table."""
    from models.chat.jobs import describe_sentiment_metrics, train_sentiment

    other = (language_column,) if language_column else ()
    frame = _read(data, text_column, label_column, other)
    languages = None
    if language_column:
        languages = frame[language_column].tolist()
    counts = frame["label"].value_counts().to_dict()
    click.echo(f"{data.name}: {len(frame)} messages ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    state = _state()
    try:
        with _progress(f"train sentiment {name}") as progress:
            version = train_sentiment(state.extras["registry"], frame["text"].tolist(), frame["label"].tolist(),
                                      state.embedder, languages=languages, name=name, progress=progress,
                                      test_fraction=test_fraction, seed=seed, activate=not no_activate,
                                      source=str(data))
    except KefuError as exc:
        raise _fail(exc, {"labels": "--label-column"}) from exc
    _record(state, version)
    click.echo(f"sentiment model {name} version {version.version}{_activated(no_activate)}")
    click.echo(describe_sentiment_metrics(version.metrics))
