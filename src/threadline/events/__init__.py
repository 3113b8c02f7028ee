"""Threadline events."""
