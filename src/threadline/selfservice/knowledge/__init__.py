"""The knowledge base: categories, articles with a translation per language and every
version kept, feedback ("did this help?"), full-text search on SQLite and PostgreSQL, the
public help center and the widget's article API."""

LANGUAGES = ("en", "pt", "es", "ru", "el")
