"""Supervision: live conversations watched, whispered to, joined, taken over, reassigned."""
