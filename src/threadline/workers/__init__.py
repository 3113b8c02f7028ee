"""Threadline workers."""
