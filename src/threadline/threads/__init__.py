"""Threadline threads."""
