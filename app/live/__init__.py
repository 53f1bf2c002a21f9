"""Live events: the outbox the database writes, and the streams that deliver it (README, Live events)."""
