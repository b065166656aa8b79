"""The APIs of the five libraries recordkit replaces, as thin layers over its store.

Switch by changing only the import; the data lands in a recordkit store (queried with ``rk.open``):

=====================  =====================================  ============================================
seed                   import instead                         what it becomes
=====================  =====================================  ============================================
record-keeper          ``recordkit.compat.record_keeper``      a run; groups are scopes ``group_name=…``
rigorous-recorder      ``recordkit.compat.rigorous_recorder``  runs of a collection; keepers are scopes
record (MongoDB)       ``recordkit.compat.record``             a run per document; updates are records
buti-recorder          ``recordkit.compat.butirecorder``       a run; ``checkpoint`` logs, models are checkpoints
MLVLogger              ``recordkit.compat.mlvlogger``          a run (sub-experiments are sub-runs); events
=====================  =====================================  ============================================

``import recordkit`` imports none of these modules. See docs/compat.md for what maps to what, the
seeds' bugs fixed, and what is not supported.
"""
