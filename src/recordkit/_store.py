"""Store and Collection: open a store by path or URL, start and find runs, read records."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from recordkit._exceptions import (
    InvalidNameError,
    QueryError,
    RunNotFoundError,
    StorageError,
    StorageUnavailableError,
)
from recordkit._names import check_name
from recordkit._settings import Settings, load_settings
from recordkit._values import flatten_config
from recordkit._writer import close_journal, get_writer
from recordkit.backends import open_backend
from recordkit.backends.base import LIVE_STATUSES, Backend, RunRow
from recordkit.runs import lifecycle, liveness
from recordkit.runs.handle import RunHandle
from recordkit.runs.run import Run

if TYPE_CHECKING:
    from recordkit._cleanup import CleanupReport
    from recordkit.read.listing import Where
    from recordkit.read.records import Records
    from recordkit.read.sql import SQLResult
    from recordkit.read.sync import SyncReport
    from recordkit.runs.events import Events
    from recordkit.sinks.base import Mirror
    from recordkit.ui.launch import UI


def open(
    path: str | os.PathLike[str] | None = None,
    *,
    create: bool = True,
    mirrors: Sequence[Mirror | str] | None = None,
    files: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> Store:
    """Open (or create) a store.

    Parameters
    ----------
    path
        A folder for the embedded store (created if missing), or a ``postgresql://`` URL.
        Default: ``RECORDKIT_STORE``, else ``./records``.
    create
        With False, a missing folder store raises ``StoreError`` instead of being created.
    mirrors
        Copies of every record fed by the background writer: ``rk.TensorBoard(dir)``, ``rk.CSV(dir)``,
        or their names ``"tensorboard"``, ``"csv"`` (written into each run's folder).
        Default: ``RECORDKIT_MIRRORS``, else none.
    files
        For a PostgreSQL store: the folder holding run folders (meta.json, attachments, checkpoints).
        Default ``RECORDKIT_FILES``; without either, runs of a PostgreSQL store have no folder.
    **settings
        Overrides for :class:`recordkit.Settings` (``flush_interval``, ``buffer_size``…).

    Examples
    --------
    >>> import recordkit as rk
    >>> store = rk.open(tmp_path / "records")          # doctest: +SKIP
    >>> store.collection("my_study")                   # doctest: +SKIP
    <Collection 'my_study'>
    """
    resolved = load_settings(**settings)
    target = os.fspath(path) if path is not None else resolved.store
    files = files if files is not None else os.environ.get("RECORDKIT_FILES") or None
    return Store(open_backend(target, create=create, files=files), resolved, mirrors=mirrors)


class Store:
    """Where runs live. Open one with :func:`recordkit.open`."""

    def __init__(self, backend: Backend, settings: Settings, mirrors: Sequence[Mirror | str] | None = None) -> None:
        self.backend = backend
        self.settings = settings
        self._writer = get_writer()
        self._channel = self._writer.channel(backend, settings)
        if self._channel.media is None:
            from recordkit.media.step import MediaStep

            self._channel.media = MediaStep(self.path)
        given = settings.mirrors if mirrors is None else mirrors
        if given:
            from recordkit.sinks.feed import MirrorFeed, make_mirrors

            made = make_mirrors(given)
            for mirror in made:
                mirror.bind(self.path)
            self._channel.mirrors = MirrorFeed(backend, made, self.path)
        self._reap_if_reachable()

    def _new_handle(self, row: RunRow, *, live: bool) -> RunHandle:
        """The handle a Run of this store works through (its features never see the Store itself)."""
        return RunHandle(
            row, backend=self.backend, writer=self._writer, channel=self._channel, settings=self.settings,
            root=self.path, live=live,
        )

    @property
    def mirrors(self) -> list[Mirror]:
        """The mirrors this store feeds (TensorBoard, CSV)."""
        feed = self._channel.mirrors
        return [] if feed is None else list(feed.mirrors)

    def _finished(self, row: RunRow) -> None:
        """A run of this store finished (its records are committed): close its mirrors, seal it."""
        feed = self._channel.mirrors
        if feed is not None:
            try:
                feed.end_run(row.id)
            except Exception as exc:  # a mirror's file: reported, never fatal to the run's end
                import warnings

                from recordkit._exceptions import RecordkitWarning

                warnings.warn(f"recordkit could not close the mirrors of run {row.id}: {exc}", RecordkitWarning,
                              stacklevel=3)
        if self.settings.seal and self.path is not None:
            from recordkit.read.parquet import seal_later

            with contextlib.suppress(Exception):  # sealing is a convenience; the run's end must never fail
                seal_later(self, row)

    # --- analytics ---------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> SQLResult:
        """Run one read-only SQL query over the documented views (``runs``, ``records``, ``scopes``…).

        ``records`` holds every record flat: run fields, ``scope_id``, ``seq``, ``step``, ``time``, one
        column per record key and per scope field (see docs/analytics.md). Values are bound with
        ``?`` (or ``:name``) placeholders, never pasted into the text. Anything that writes, a function
        outside the documented list, a value over 64 MiB and a query running past the ``sql_timeout``
        setting (30 s) are refused with ``QueryError``.

        Examples
        --------
        >>> store.sql("select avg(x) from records where episode = ?", [2]).scalar()   # doctest: +SKIP
        >>> store.sql("select run_name, max(acc) from records group by run_id").to_pandas()  # doctest: +SKIP
        """
        from recordkit.read.sql import SQLResult

        if not isinstance(query, str) or not query.strip():
            raise QueryError(f"store.sql() takes the query as a non-empty string, not {query!r}")
        if isinstance(params, (str, bytes)):
            raise QueryError(f"params must be a list of values or a dict of names, not the string {params!r}")
        self.reap()  # a run whose process died reads crashed here too
        self.flush()
        columns, rows = self.backend.sql(query, params, timeout=self.settings.sql_timeout)
        return SQLResult(columns, rows)

    def seal(self, run: Run | str) -> Path:
        """Write a finished run's records to ``<run folder>/records.parquet`` now (zstd; temp file + rename).

        Finished runs are sealed in the background anyway (setting ``seal``); this waits for it.
        """
        from recordkit.read.parquet import seal_run

        row = self._find_row(run.id if isinstance(run, Run) else run)
        return seal_run(self, row)

    def export_parquet(self, out: str | os.PathLike[str], *, collection: str | None = None) -> list[Path]:
        """Write a hive-partitioned Parquet dataset: ``out/collection=<name>/run=<id>/part-0.parquet``.

        Every file has the same columns (a key one run never logged is null there), so DuckDB, Polars
        and Spark read the folder as one table. Finished runs are copied from their sealed files (sealed
        now if needed); live runs are written as they are so far. Returns the files written.

        Examples
        --------
        >>> store.export_parquet("out/")                                             # doctest: +SKIP
        >>> duckdb.sql("select avg(x) from read_parquet('out/**/*.parquet', hive_partitioning=true)")  # doctest: +SKIP
        """
        from recordkit.read.export import export_parquet

        return export_parquet(self, Path(os.path.abspath(out)), collection=collection)  # absolute paths back

    def export(
        self, out: str | os.PathLike[str], *, format: str = "parquet", collection: str | None = None
    ) -> list[Path]:
        """Write every run's flat records under ``out`` as ``parquet``, ``csv`` or ``jsonl`` files.

        The layout is the same for each format: ``out/collection=<name>/run=<id>/part-0.<format>``.
        """
        from recordkit.read.export import export

        return export(self, Path(os.path.abspath(out)), format=format, collection=collection)

    @property
    def url(self) -> str:
        """The store's path or URL (never with a password)."""
        return self.backend.url

    @property
    def path(self) -> Path | None:
        """The folder holding run folders (absolute, fixed when the store was opened), if the store has one."""
        root = self.backend.files_root
        return None if root is None else Path(root)

    def collection(self, name: str) -> Collection:
        """The collection called ``name``; it is created when its first run starts."""
        name = check_name(name, "collection name")
        if name == "blobs":
            raise InvalidNameError("'blobs' is the store's attachment folder; name the collection otherwise")
        return Collection(self, name)

    def collections(self) -> list[Collection]:
        return [Collection(self, name) for name in self.backend.collections()]

    def run(self, ref: str | int) -> Run:
        """A run by id, unique id prefix, or number.

        A number (``3`` or ``"3"``) is a run's experiment number, never an id prefix; it must be unique
        across collections (``store.collection(name).run(number)`` picks one collection's run).

        Examples
        --------
        >>> store.run(3).id == store.run(store.run(3).id[:6]).id      # doctest: +SKIP
        True
        """
        row = self._find_row(ref)
        return lifecycle.live_run(row.id) or Run(self, row, live=False)

    def runs(self, *, where: Where = None, sort: str | None = None, limit: int | None = None) -> list[Run]:
        """Every run of every collection, oldest first; optionally filtered, sorted and cut.

        Parameters
        ----------
        where
            Equality conditions on run fields (``status``, ``name``, ``number``, ``tag``…) and config
            values (``config.lr`` or just ``lr``), as a dict or as texts (read by
            ``recordkit.read.listing.parse_where``, the parser of ``--where``): ``KEY=VALUE``, and
            comparisons of any run-row column, metrics and their summaries included (``acc>0.9``,
            ``config.lr<=0.01``, ``max(acc)>=0.95``, ``mean(loss,10)<0.2``: the mean of the last 10
            points). In a dict, a callable value tests a column (``{"acc": lambda v: …}``; a missing
            value is passed as None).
        sort
            A run-row column (``start``, ``loss``, ``config.lr``…); ``-column`` sorts descending.
            Missing and NaN values come last.
        limit
            At most this many runs (after sorting).

        Examples
        --------
        >>> store.runs(where={"status": "finished", "config.lr": 0.1}, sort="-acc", limit=5)  # doctest: +SKIP
        >>> store.runs(where=["status=crashed"])                                               # doctest: +SKIP
        >>> store.runs(where=["acc>0.9", "config.lr<=0.01"], sort="-max(acc)")               # doctest: +SKIP
        """
        return [self._as_run(row) for row in self._select(None, where, sort, limit, rows_only=True)]

    def run_table(
        self, *, where: Where = None, sort: str | None = None, limit: int | None = None, summaries: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Runs as flat rows, as ``recordkit ls`` lists them: identity, latest metrics, config values.

        Each row holds ``collection``, ``number``, ``error_number``, ``id``, ``name``, ``status``,
        ``start``, ``duration``, ``end``, ``tags``, ``parent_id``, the last value of every logged key
        (``metric.<key>`` when the key clashes), and ``config.<dotted key>`` for every config value.
        Nothing is read from records or environments, so 10,000 runs list in well under a second.
        ``where``, ``sort`` and ``limit`` are as for :meth:`runs`; ``summaries`` adds columns such as
        ``max(acc)``, ``min(loss)``, ``mean(acc)`` or ``mean(acc,10)`` (the last 10 points).

        Examples
        --------
        >>> store.run_table(where=["status=finished"], sort="-acc", limit=3)[0]["acc"]  # doctest: +SKIP
        0.93
        >>> store.run_table(summaries=["max(acc)"])[0]["max(acc)"]                    # doctest: +SKIP
        0.95
        """
        return self._select(None, where, sort, limit, summaries=summaries)

    def _select(
        self,
        collection: str | None,
        where: Where,
        sort: str | None,
        limit: int | None,
        *,
        rows_only: bool = False,
        rows: list[RunRow] | None = None,
        summaries: Sequence[str] = (),
    ) -> list[Any]:
        """Runs (``rows_only``) or run-table rows of a collection (None: all), filtered, sorted, cut."""
        from recordkit.read import listing as _listing

        if rows is None:
            from recordkit._writer import _gc_paused

            with _gc_paused():
                rows = self._rows(collection)
        # No metric needed (no sort, no column test): no summaries read.
        if rows_only and not sort and (limit is None or limit >= 0) and not _listing.split_tests(where)[1]:
            kept = _listing.filter_rows(rows, where)
            return kept if limit is None else kept[:limit]
        from recordkit._writer import _gc_paused

        with _gc_paused():  # 10,000 rows of fresh dicts, no cycles: the collector's passes cost a quarter
            chosen = _listing.select(rows, self.backend, where=where, sort=sort, limit=limit, summaries=summaries)
        return [run for run, _ in chosen] if rows_only else [table for _, table in chosen]

    def _as_run(self, row: RunRow) -> Run:
        return lifecycle.live_run(row.id) or Run(self, row, live=False)

    def delete_run(self, run: Run | str, *, force: bool = False, dry_run: bool = False) -> CleanupReport:
        """Delete a run, its sub-runs, everything recorded for them, and their run folders.

        Parameters
        ----------
        run
            A Run, a run id or a unique id prefix.
        force
            Delete a live (running or paused) run too. Without it, a live run raises RunStateError:
            its process would go on writing into a run that no longer exists (``gc`` cleans up
            whatever it writes afterwards).
        dry_run
            Change nothing; the report says what would be removed.

        Returns
        -------
        CleanupReport
            The run ids, database rows by kind, folders and bytes removed. The database file
            shrinks only at the next :meth:`gc`.

        Examples
        --------
        >>> store.delete_run(store.collection("demo").run(2)).rows["records"]   # doctest: +SKIP
        640
        """
        from recordkit._cleanup import delete_runs
        from recordkit.read.parquet import wait_sealed

        wait_sealed(self)  # a background seal must not write into a folder being deleted

        row = self._find_row(run.id if isinstance(run, Run) else run)
        return delete_runs(self, [row], force=force, dry_run=dry_run)

    def gc(self, *, dry_run: bool = False) -> CleanupReport:
        """Remove what no run refers to any more and give the space back to the file system.

        Removes database rows whose run or scope is gone, run folders without a run, blobs no file row
        refers to and stray files of killed writers in run folders (``report.stray_files``); blobs and
        temp files younger than ten minutes are kept (a writer may be about to use them); then compacts the
        database (SQLite: ``VACUUM``). The bytes reclaimed are measured from file sizes before and
        after. With ``dry_run`` nothing changes, and the report gives what a real run would remove and
        reclaim (the database part is computed on a scratch copy beside the store, so a dry run needs
        that much free space for a moment).

        Examples
        --------
        >>> store.gc(dry_run=True).bytes_reclaimed     # doctest: +SKIP
        1048576
        """
        from recordkit._cleanup import collect_garbage
        from recordkit.read.parquet import wait_sealed

        wait_sealed(self)  # a sealed file being written is no garbage, and gc must count it once

        self.flush()
        return collect_garbage(self, dry_run=dry_run)

    def _find_row(self, ref: str | int) -> RunRow:
        from recordkit.read.lookup import find_row

        return self._refresh(find_row(self.backend, ref))

    def _rows(self, collection: str | None = None) -> list[RunRow]:
        return [self._refresh(row) for row in self.backend.find_runs(collection)]

    @property
    def records(self) -> Records:
        """Every record of every run in the store, read flat."""
        from recordkit.read.records import Records

        return Records(self, collection=None)

    @property
    def events(self) -> Events:
        """Every event of every run in the store, oldest first."""
        from recordkit.runs.events import Events

        return Events.load(self, None)

    def unreferenced_blobs(self) -> list[Path]:
        """Attachment blobs no run refers to (and stray temporary files of dead processes), older than
        the ten-minute grace: exactly what ``gc()`` would delete now. Nothing is deleted here."""
        from recordkit._cleanup import orphan_blobs

        self.flush()
        return list(orphan_blobs(self))

    # --- liveness ----------------------------------------------------------------------------
    def _refresh(self, row: RunRow) -> RunRow:
        """The row as any reader should see it: a live run whose process is gone is crashed."""
        if row.status in LIVE_STATUSES and liveness.is_dead(row, time.time(), self.settings):
            self._replay()  # the records its process journalled first, then the status
            return liveness.mark_crashed(self.backend, self._channel, self.path, row)
        return row

    def reap(self) -> list[str]:
        """Commit what dead processes left in their journals, then mark their runs crashed; return their ids."""
        self._replay()
        now = time.time()
        dead = [r for r in self.backend.find_runs(statuses=LIVE_STATUSES) if liveness.is_dead(r, now, self.settings)]
        return [liveness.mark_crashed(self.backend, self._channel, self.path, row).id for row in dead]

    def _replay(self) -> None:
        from recordkit._recovery import replay_dead

        try:
            replay_dead(self.backend)
        except StorageError as exc:  # the journal stays; the next open tries again
            import warnings

            from recordkit._exceptions import RecordkitWarning

            warnings.warn(f"recordkit could not replay a dead process's journal yet: {exc}", RecordkitWarning,
                          stacklevel=3)

    def _reap_if_reachable(self) -> None:
        """Reap at open and at a run's start, unless the server is away: liveness verdicts can wait for
        it, training must not (docs/postgres.md, "Offline spool")."""
        if not self.backend.seems_reachable():
            return
        with contextlib.suppress(StorageUnavailableError):
            self.reap()

    def sync_to(self, other: Store, *, collections: Sequence[str] | None = None) -> SyncReport:
        """Copy this store's runs, scopes, records and run folders into ``other``; safe to repeat.

        Each record lands exactly once, even if the sync is interrupted and run again, or a run is
        still writing (see :mod:`recordkit.read.sync`).

        Examples
        --------
        >>> rk.open("records").sync_to(rk.open("postgresql://db/runs", files="/shared"))  # doctest: +SKIP
        """
        from recordkit.read.sync import sync

        return sync(self, other, collections=collections)

    def ui(self, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None, open: bool = False) -> UI:
        """Serve this store's web page from a background thread; returns at once with its ``url`` and ``stop()``.

        Needs ``pip install 'recordkit[ui]'``; see docs/ui.md.

        Examples
        --------
        >>> page = rk.open("records").ui()      # doctest: +SKIP
        >>> page.url; page.stop()               # doctest: +SKIP
        """
        from recordkit.ui.launch import start

        return start(self, host=host, port=port, token=token, open_browser=open)

    # --- housekeeping ------------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything logged to this store is durable."""
        self._writer.flush(self._channel, timeout)

    def close(self) -> None:
        self.flush()
        close_journal(self._channel)  # everything is stored: the journal file goes
        from recordkit.read.parquet import wait_sealed

        wait_sealed(self)
        feed = self._channel.mirrors
        if feed is not None:
            feed.close()
        self.backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.url!r}>"


class Collection:
    """A named set of runs (a study); numbering is per collection."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    def start_run(
        self,
        config: Any = None,
        *,
        name: str | None = None,
        tags: Sequence[str] = (),
        capture: bool | Sequence[str] = True,
        seed: int | None = None,
        distributed: bool = False,
        rank_zero_only: bool = False,
        system_metrics: bool | float = False,
        capture_output: bool = False,
        run_id: str | None = None,
    ) -> Run:
        """Start a run: number it, capture config and environment, and return it live.

        Use it as a context manager (an exception marks the run failed and propagates) or call
        ``run.finish()``.

        Parameters
        ----------
        config
            A dict, ``argparse.Namespace``, ``ConfigParser``, dataclass, pydantic model or OmegaConf config.
        name
            A human name for the run (not necessarily unique).
        tags
            Labels to filter by.
        capture
            True captures the whole environment (git included); False nothing; a list names the parts
            (system, python, hardware, gpu, packages, env_vars, git, process).
        seed
            Seed random, numpy and torch (when installed) with it before the run starts, and record it.
        distributed
            One run for a whole torchrun / DDP / Slurm job: rank 0 starts it, every other rank attaches
            to it, and each rank logs into its own ``rank`` scope (see :mod:`recordkit.runs.distributed`).
        rank_zero_only
            With ``distributed``: logging on every rank but 0 does nothing.
        system_metrics
            True samples CPU, memory, disk, network and GPUs every 10 s (a number: every that many
            seconds) in a background thread, as records in the scope ``source="system"``; needs psutil
            (``pip install 'recordkit[system]'``). See :mod:`recordkit.runs.system_metrics`.
        capture_output
            Copy stdout and stderr (child processes' too) into the run file ``output.log``, at most
            ``output_limit`` bytes, while the terminal shows them as before. See :mod:`recordkit.runs.console`.
        run_id
            Chosen id (a letter, then letters, digits, ``-``, ``_``). Unnamed runs are named from the id.

        Examples
        --------
        >>> with col.start_run(config={"lr": 0.1}, name="baseline") as run:   # doctest: +SKIP
        ...     run.log(loss=0.3)
        """
        planned = None
        if system_metrics is not False or capture_output is not False:
            from recordkit.runs.services import plan

            planned = plan(system_metrics, capture_output, self.store.path)  # bad input starts no run
        if distributed:
            from recordkit.runs.distributed import start_distributed_run

            if run_id is not None:
                raise TypeError("a distributed run's id is chosen by its rank 0; leave run_id out")
            run = start_distributed_run(
                self, config, name=name, tags=tags, capture=capture, seed=seed, rank_zero_only=rank_zero_only
            )
        else:
            run = self._start(config, name=name, tags=tags, capture=capture, seed=seed, run_id=run_id)
        if planned:
            from recordkit.runs.services import start

            rank = run.fields.get("rank") if distributed else None  # each rank of a job keeps its own output
            start(run, planned, output_limit=self.store.settings.output_limit, rank=rank)
        return run

    def _start(self, config: Any, **options: Any) -> Run:
        """Start a run of this collection (``runs/starting.py``): ``start_run`` and ``sub_run`` share it."""
        from recordkit.runs.starting import start

        return start(self, config, **options)

    def resume_run(
        self,
        number_or_id: int | str,
        *,
        from_checkpoint: bool | str = True,
        after_checkpoint: Literal["keep", "supersede"] = "keep",
        system_metrics: bool | float = False,
        capture_output: bool = False,
    ) -> Run:
        """Reopen a finished, failed, interrupted or crashed run and continue it live.

        The run keeps its id, number, config and records. Its counters (``step``, ``epoch``) come back
        from its latest checkpoint, or, without one, from where it stopped; sequence numbers continue.
        A ``resumed`` event records the previous status and the checkpoint.

        Parameters
        ----------
        number_or_id
            The run's experiment number in this collection (the latest attempt), or its id / id prefix.
        from_checkpoint
            True: the latest checkpoint of any name, if there is one. A name: that checkpoint's latest.
            False: ignore checkpoints and continue from the run's stored counters.
        after_checkpoint
            Records already logged at steps after the checkpoint: ``"keep"`` (both attempts are read
            back) or ``"supersede"`` (kept in the store but left out of every read).
        system_metrics, capture_output
            As for :meth:`start_run`; console output is appended to the run's ``output.log``.

        Examples
        --------
        >>> run = col.resume_run(3)                                # doctest: +SKIP
        >>> run.load_model("cnn", into=model, optimizer=opt)        # doctest: +SKIP
        >>> for step in range(run.step + 1, 1000): ...              # doctest: +SKIP
        """
        from recordkit.runs.resume import resume_run
        from recordkit.runs.services import plan, start

        planned = plan(system_metrics, capture_output, self.store.path)  # bad input reopens nothing
        run = resume_run(self, number_or_id, from_checkpoint=from_checkpoint, after_checkpoint=after_checkpoint)
        if planned:
            start(run, planned, output_limit=self.store.settings.output_limit)
        return run

    @property
    def events(self) -> Events:
        """Every event of every run in the collection, oldest first."""
        from recordkit.runs.events import Events

        return Events.load(self.store, [row.id for row in self.store.backend.find_runs(self.name)])

    def runs(
        self,
        *,
        status: str | None = None,
        config_hash: str | None = None,
        config: Mapping[str, Any] | None = None,
        tags: Sequence[str] = (),
        where: Where = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """The collection's runs, oldest first, optionally filtered, sorted and cut.

        Parameters
        ----------
        status
            Only runs with this status (``"finished"``, ``"crashed"``…).
        config_hash
            Only runs whose config hashes to this (see ``Run.config_hash``).
        config
            Only runs whose config contains these values; nested dicts or dotted keys
            (``{"optimizer.lr": 0.1}``) reach into nested configs.
        tags
            Only runs carrying every one of these tags.
        where, sort, limit
            As for :meth:`Store.runs`: ``where={"config.lr": 0.1}`` or ``where=["status=crashed"]``,
            ``sort="-acc"``, ``limit=5``.

        Examples
        --------
        >>> col.runs(status="finished", config={"lr": 0.1})   # doctest: +SKIP
        >>> col.runs(where=["opt.name=adam"], sort="-acc", limit=3)   # doctest: +SKIP
        """
        from recordkit.capture import config_hash as hash_config

        wanted = flatten_config(config or {})
        found = []
        for row in self.store._rows(self.name):
            if status is not None and row.status != str(status):
                continue
            if config_hash is not None and hash_config(row.config) != config_hash:
                continue
            if wanted:
                have = flatten_config(row.config)
                if any(key not in have or have[key] != value for key, value in wanted.items()):
                    continue
            if not set(tags) <= set(row.tags):
                continue
            found.append(row)
        if where is not None or sort or limit is not None:
            found = self.store._select(self.name, where, sort, limit, rows_only=True, rows=found)
        return [self.store._as_run(row) for row in found]

    def find_finished(self, config: Any, *, code: bool = False) -> Run | None:
        """The latest finished run with exactly this config, or None: lets a sweep skip work that is done.

        ``code=True`` also asks for the same code (``run.code_hash``: git commit + diff hash, captured
        now as ``start_run`` does), so changed code is not "already done"; it needs a git repository.

        Examples
        --------
        >>> if col.find_finished(cfg, code=True) is None:      # doctest: +SKIP
        ...     with col.start_run(config=cfg) as run: ...
        """
        from recordkit.capture import config_hash, config_to_dict, scrub_config
        from recordkit.runs.meta import code_hash_now

        settings = self.store.settings
        stored = scrub_config(config_to_dict(config), allow=settings.env_allow, deny=settings.env_deny)
        done = self.runs(status="finished", config_hash=config_hash(stored))  # hashed as start_run stored it
        if code and done:
            now = code_hash_now(settings.env_allow, settings.env_deny, "find_finished(code=True)")
            done = [run for run in done if run.code_hash == now]
        return done[-1] if done else None

    def run(self, number: int) -> Run:
        """The run with this experiment number (the latest attempt if failed retries share it)."""
        rows = self.store.backend.find_runs(self.name, number=number)
        if not rows:
            raise RunNotFoundError(f"collection {self.name!r} has no run number {number!r}")
        row = self.store._refresh(rows[-1])
        return lifecycle.live_run(row.id) or Run(self.store, row, live=False)

    def run_table(
        self, *, where: Where = None, sort: str | None = None, limit: int | None = None, summaries: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The collection's runs as flat rows; see :meth:`Store.run_table`.

        Examples
        --------
        >>> col.run_table(sort="-acc", limit=1)[0]["name"]   # doctest: +SKIP
        'lr=0.3'
        """
        return self.store._select(self.name, where, sort, limit, summaries=summaries)

    @property
    def records(self) -> Records:
        """Every record of every run in the collection, read flat."""
        from recordkit.read.records import Records

        return Records(self.store, collection=self.name)

    def plot(
        self, key: str, *, by: str | None = None, path: str | os.PathLike[str] | None = None, **where: Any
    ) -> Path:
        """Save a PNG of ``key`` against step: one line per run, or per run and value of ``by``.

        ``where`` filters the records first (as ``records.where``). Default path:
        ``<store>/<collection>/plots/<key>.png``. Needs matplotlib (``pip install 'recordkit[plot]'``).

        Examples
        --------
        >>> col.plot("loss", by="model", training=True)    # doctest: +SKIP
        """
        from recordkit.read.plots import plot_collection

        return plot_collection(self, key, by=by, path=path, where=where)

    def __len__(self) -> int:
        return len(self.store.backend.find_runs(self.name))

    def __repr__(self) -> str:
        return f"<Collection {self.name!r}>"
