"""pytest fixtures that start real services. Each service lives in its own module."""
from tests.services.postgres import postgres_server, postgres_url  # noqa: F401
from tests.services.redis_server import redis_server, redis_url  # noqa: F401
from tests.services.seaweed import s3_store, seaweedfs  # noqa: F401
from tests.services.browser import browser, browser_page, shot  # noqa: F401
from tests.services.live import live_server  # noqa: F401
