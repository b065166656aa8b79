"""Media values (images, histograms, tables) and how the writer stores them.

``values``: the objects users log (``rk.Image``, ``rk.Histogram``, ``rk.Table``) and read back;
``png``: a PNG writer and reader for machines without Pillow; ``step``: the writer thread's step
that turns media values into stored blobs and references.
"""

from recordkit.media.values import Histogram, Image, Media, Table, from_reference, from_stored

__all__ = ["Histogram", "Image", "Media", "Table", "from_reference", "from_stored"]
