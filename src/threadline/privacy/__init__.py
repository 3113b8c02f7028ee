"""Customer data duties: export everything kept about a customer, and erase it."""
