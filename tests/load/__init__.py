"""The load run (`make load`, issue 10 item 5): simulated collection stations against the
production stack (`fullrecord serve`, `fullrecord worker` ×2, PostgreSQL, Redis, SeaweedFS).
Collected only by `make load` (files named load_*.py)."""
