"""Threadline routing."""
