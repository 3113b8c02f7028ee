"""The agent's inbox: views and counts over threads, search, labels, canned replies,
macros, snooze and reopen."""
