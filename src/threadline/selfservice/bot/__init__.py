"""The bot on the messaging channels: runs a flow per thread, hands off with context."""
