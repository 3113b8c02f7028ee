"""Contact reasons: the organisation's taxonomy, each ended contact's reason (given or
classified), trends and spikes (docs/reasons.md)."""
