"""Threadline realtime."""
