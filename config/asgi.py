import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()

# As config/wsgi.py: the web's statement timeout as a connection option (common/db.py).
from common.db import limit_web_connections  # noqa: E402  (after Django is set up)

limit_web_connections()
