"""The server at the edge: `create_app(settings, repo)` (FastAPI), live map at `/`."""

from unseen.serve.app import bootstrap_admin, create_app
from unseen.serve.settings import Settings, check_admin_token

__all__ = ["Settings", "bootstrap_admin", "check_admin_token", "create_app"]
