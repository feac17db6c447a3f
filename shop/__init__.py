"""Domain layer: settings, errors, the SQL store, ingestion and the demo shop."""
