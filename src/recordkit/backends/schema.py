"""The tables every SQL store holds, written once; each engine's ``_schema.py`` names its types.

A template holds ``{int}`` (a 64-bit integer), ``{real}`` (a double), ``{serial}`` (an integer key the
engine numbers itself), ``{ord}`` (a leading column that keeps insertion order, where the engine has
no ``rowid``), ``{position}`` (the column order of ``record_columns``, where the engine has none to
sort by) and ``{name_in_byte_order}`` (an index expression). The engines' numbered migrations are
built from these, one template per schema version.
"""

from __future__ import annotations

from typing import NamedTuple


class Types(NamedTuple):
    """How one engine spells the placeholders of the templates below."""

    int: str
    real: str
    serial: str
    ord: str
    position: str
    name_in_byte_order: str


#: Version 1: collections, runs, scopes, the records-table registry and the per-run summary.
VERSION_1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS collections (
    id {serial} PRIMARY KEY, name TEXT NOT NULL UNIQUE, created {real} NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    {ord}id TEXT PRIMARY KEY, collection_id {int} NOT NULL REFERENCES collections(id),
    number {int} NOT NULL, error_number {int} NOT NULL DEFAULT 0, name TEXT,
    status TEXT NOT NULL, start_time {real} NOT NULL, end_time {real},
    config TEXT NOT NULL, env TEXT NOT NULL, tags TEXT NOT NULL, parent_id TEXT,
    step {int} NOT NULL DEFAULT 0, epoch {int} NOT NULL DEFAULT 0, error TEXT,
    host TEXT NOT NULL, pid {int} NOT NULL, heartbeat {real} NOT NULL, folder TEXT NOT NULL,
    root_scope {int} NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_number ON runs (collection_id, parent_id, number);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS scopes (
    id {int} PRIMARY KEY, run_id TEXT NOT NULL, parent_id {int}, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS scopes_by_run ON scopes (run_id);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value {int} NOT NULL);
CREATE TABLE IF NOT EXISTS record_tables (name TEXT PRIMARY KEY, created {real});
CREATE TABLE IF NOT EXISTS record_columns (
    table_name TEXT NOT NULL, key TEXT NOT NULL, col TEXT NOT NULL, kind TEXT{position},
    PRIMARY KEY (table_name, key));
CREATE TABLE IF NOT EXISTS summary (
    {ord}run_id TEXT NOT NULL, key TEXT NOT NULL, last TEXT, last_step {int},
    min {real}, max {real}, count {int} NOT NULL, UNIQUE (run_id, key));
"""

#: Version 2 (issue 4): events, the file index and links between runs.
VERSION_2 = """
CREATE TABLE IF NOT EXISTS events (
    seq {serial} PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, time {real} NOT NULL,
    step {int} NOT NULL, duration {real}, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq);
CREATE INDEX IF NOT EXISTS events_by_name ON events ({name_in_byte_order}, run_id);
CREATE TABLE IF NOT EXISTS files (
    seq {serial} PRIMARY KEY, run_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    time {real} NOT NULL, step {int} NOT NULL, size {int}, sha256 TEXT, path TEXT,
    mtime {real}, meta TEXT NOT NULL, removed {real});
CREATE INDEX IF NOT EXISTS files_by_run ON files (run_id, seq);
CREATE TABLE IF NOT EXISTS links (
    seq {serial} PRIMARY KEY, source_id TEXT NOT NULL, target_id TEXT NOT NULL, relation TEXT NOT NULL,
    time {real} NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS links_by_source ON links (source_id);
CREATE INDEX IF NOT EXISTS links_by_target ON links (target_id);
"""

#: Version 3 (issue 14): a run's notes, free text edited after the run (``run.notes = …``).
VERSION_3 = """
ALTER TABLE runs ADD COLUMN notes TEXT;
"""

#: Version 4 (issue 14): series labels. A scope keeps the label it was created with (``phase=eval``);
#: a summary row is per labelled key (``phase=eval/loss``) and ``name`` holds the bare key (``loss``).
#: Rows written before keep NULL there (their ``key`` is bare).
VERSION_4 = """
ALTER TABLE scopes ADD COLUMN label TEXT;
ALTER TABLE summary ADD COLUMN name TEXT;
"""

#: Version 5 (issue 12): each journal's committed mark, written in the transaction of the batch it ends.
VERSION_5 = """
CREATE TABLE IF NOT EXISTS journal_marks (
    journal TEXT PRIMARY KEY, entries {int} NOT NULL, ring_offset {int} NOT NULL, time {real} NOT NULL);
"""
