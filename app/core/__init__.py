"""Infrastructure shared by every domain: ids, times, column types, encryption, errors, logs."""
