"""Customer verification: assurance levels, and continuation codes that carry a session's
identity and context from one channel to another (the app to a phone call)."""
