"""Sessions as the service sees them: journal events, the replica cache, the ask/tell rules."""
