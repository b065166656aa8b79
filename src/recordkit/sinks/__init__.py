"""Mirrors: copies of the records in formats other tools read, fed by the background writer.

* ``base.py``: the :class:`Mirror` base class (subclass it for your own) and :class:`MirrorRecord`
* ``tensorboard.py``: scalars in TensorBoard event files; ``csv.py``: one CSV file per run and label
* ``feed.py``: turns committed write items into mirror records, and makes mirrors from names
"""
