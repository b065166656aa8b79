"""Recording from the training frameworks people already use: one run per training, no loop changes.

* Lightning (``lightning.pytorch``, or ``pytorch_lightning``):
  ``Trainer(logger=recordkit.integrations.lightning.RecordkitLogger("study"))``
* Hugging Face Transformers:
  ``Trainer(..., callbacks=[recordkit.integrations.transformers.RecordkitCallback("study")])``
* Keras 3, any backend:
  ``model.fit(..., callbacks=[recordkit.integrations.keras.RecordkitCallback("study")])``

Each module imports its framework when it is imported itself; ``import recordkit`` imports none of
them. See docs/integrations.md for what each records.
"""
