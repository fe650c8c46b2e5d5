import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# A web server's process serves requests only: its connections start with the web's
# statement timeout (common/db.py), instead of a SET and a RESET around every request.
from common.db import limit_web_connections  # noqa: E402  (after Django is set up)

limit_web_connections()
