"""Intents: a per-organisation classifier trained from labelled examples (``text,category``),
with calibrated confidence so the bot can ask instead of guessing.

The engine is :mod:`threadline.intents.engine`; it is not re-exported here so that loading the
main CLI does not import scikit-learn and SciPy (a second) for commands that never use them.
"""
