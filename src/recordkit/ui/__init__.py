"""The local web page: see, filter and compare every run of a store in a browser.

Start it with ``recordkit ui [STORE]`` or, from Python or a notebook, ``rk.open("records").ui()``
(non-blocking: it returns a handle with the ``url`` and ``stop()``). Needs the ``ui`` extra
(``pip install 'recordkit[ui]'``: Starlette and uvicorn); the page's files, uPlot included, ship in
the package and nothing is fetched from the network.

Modules: :mod:`~recordkit.ui.launch` binds and runs the server, :mod:`~recordkit.ui.server` is the
app and its security checks, :mod:`~recordkit.ui.queries` turns request parameters into library
calls, :mod:`~recordkit.ui.downsample` picks the points to draw, :mod:`~recordkit.ui.command` is
the ``recordkit ui`` command. See docs/ui.md.
"""
