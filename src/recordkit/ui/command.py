"""``recordkit ui``: serve a store's web page (a thin twin of ``store.ui()``, in the foreground)."""

from __future__ import annotations

import click

import recordkit as rk


@click.command("ui")
@click.argument("store_path", required=False, metavar="[STORE]")
@click.option("--store", "-s", "store", metavar="PATH", default=None,
              help="Store folder or URL (the same as STORE).  [default: $RECORDKIT_STORE, else ./records]")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback requires a token.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="Port; 0 picks a free one.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--token", default=None, envvar="RECORDKIT_UI_TOKEN", metavar="TEXT",
              help="Require this token (made up when bound beyond loopback).  [env: RECORDKIT_UI_TOKEN]")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also accept requests addressed to this host name (repeatable).")
def ui(store_path: str | None, store: str | None, host: str, port: int, open_browser: bool, token: str | None,
       allowed_hosts: tuple[str, ...]) -> None:
    """Serve the store's web page, read-only: runs table, run pages, compare charts.

    The first line printed is `recordkit ui: http://HOST:PORT/`. Stop with Ctrl-C.
    Python: rk.open(STORE).ui().

    \b
    Example:
        recordkit ui records --port 8080
    """
    if store_path is not None and store is not None and store != store_path:
        raise click.UsageError(f"give the store once: STORE {store_path!r} or --store {store!r}")
    from recordkit.ui.launch import serve

    opened = rk.open(store_path or store, create=False)
    try:
        serve(opened, host=host, port=port, token=token, allowed_hosts=allowed_hosts, open_browser=open_browser)
    except OSError as exc:
        raise click.ClickException(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    finally:
        opened.close()
