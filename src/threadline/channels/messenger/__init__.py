"""The Facebook Messenger channel over Meta's Messenger Platform (a Page's inbox)."""
