"""Intents from the admin UI: upload labelled examples, train the organisation's model in the
background, see its held-out evaluation, try a sentence (the engine is threadline.intents)."""
