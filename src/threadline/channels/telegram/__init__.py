"""The Telegram channel: Bot API webhooks in (secret token checked), sendMessage out."""
