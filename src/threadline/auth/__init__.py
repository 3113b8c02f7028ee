"""Threadline auth."""
