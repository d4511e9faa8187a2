"""One module per API resource: its schemas and its views."""
