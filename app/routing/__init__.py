"""Queues, counsellor availability and capacity, offers."""
