"""Statistics: anonymised aggregates with disclosure control, operational metrics, scheduled exports."""
